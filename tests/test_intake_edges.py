"""The intake at its edges: every content type, boundaries, counts, the stored form of a ref,
sampling stable across versions, and series restored after a restart."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sms_delivery_exporter.intake.sampling import sampled_in
from tests.helpers import RunningExporter, make_config, namirial_account

Start = Callable[..., Any]
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(10)]
FIRST_POLL = 3600.0


@pytest.fixture
async def intake(
    tmp_path: Path, start_exporter: Start, start_namirial: Start
) -> tuple[RunningExporter, Any]:
    _, url = await start_namirial()
    account = namirial_account(url, "k", schedule={"first_poll": "1h"})
    config, _ = make_config(
        tmp_path,
        {"eu": account, "us": namirial_account(url, "k", sample_rate=0.5)},
        intake={"labels": {"keys": ["team"], "max_values_per_key": 5}},
    )
    return await start_exporter(config)  # type: ignore[no-any-return]


def counted(exporter: RunningExporter, account: str, result: str) -> float | None:
    return exporter.sample("sms_exporter_intake_total", {"account": account, "result": result})


async def post(client: Any, body: Any, **headers: str) -> Any:
    if isinstance(body, str):
        response = await client.post("/api/v1/messages", data=body, headers=headers)
    else:
        response = await client.post("/api/v1/messages", json=body, headers=headers)
    return response.status, await response.json()


class TestBodies:
    """Every NDJSON content type, and blank lines anywhere."""

    @pytest.mark.parametrize(
        "content_type", ["application/x-ndjson", "application/jsonl", "application/json-seq"]
    )
    async def test_ndjson_types_with_a_blank_line_inside(
        self, intake: tuple[RunningExporter, Any], content_type: str
    ) -> None:
        lines = [json.dumps({"account": "eu", "id": i}) for i in IDS[:3]]
        body = f"{lines[0]}\n\n{lines[1]}\n   \n{lines[2]}\n"
        status, answer = await post(intake[1], body, **{"Content-Type": content_type})
        assert (status, answer["accepted"]) == (202, 3)

    async def test_not_an_object(self, intake: tuple[RunningExporter, Any]) -> None:
        status, answer = await post(intake[1], [{"account": "eu", "id": IDS[0]}, 42])
        assert status == 400
        assert answer["errors"] == [
            {"index": 1, "field": "", "error": "each item must be a JSON object"}
        ]


class TestBoundaries:
    """Where a value stops being accepted."""

    async def test_label_value_of_128_characters_accepted_129_refused(
        self, intake: tuple[RunningExporter, Any]
    ) -> None:
        _, client = intake
        ok = {"account": "eu", "id": IDS[0], "labels": {"team": "t" * 128}}
        assert (await post(client, ok))[0] == 202
        too_long = {"account": "eu", "id": IDS[1], "labels": {"team": "t" * 129}}
        status, answer = await post(client, too_long)
        assert status == 400 and answer["errors"][0]["field"] == "labels.team"

    @pytest.mark.parametrize(
        ("offset", "accepted"),
        [(-86_400, True), (-10, True), (0, True), (290, True), (310, False)],
    )
    async def test_submitted_at_from_a_day_ago_to_clock_skew(
        self, intake: tuple[RunningExporter, Any], offset: float, accepted: bool
    ) -> None:
        when = datetime.fromtimestamp(datetime.now(UTC).timestamp() + offset, UTC)
        item = {"account": "eu", "id": IDS[0], "submitted_at": when.isoformat()}
        status, answer = await post(intake[1], item)
        assert (status == 202) is accepted, answer

    @pytest.mark.parametrize("value", [5, None.__class__.__name__, ["2026-01-01T00:00:00Z"]])
    async def test_submitted_at_must_be_a_string(
        self, intake: tuple[RunningExporter, Any], value: Any
    ) -> None:
        item = {"account": "eu", "id": IDS[0], "submitted_at": value}
        status, answer = await post(intake[1], item)
        assert status == 400
        [problem] = answer["errors"]
        assert problem["field"] == "submitted_at"


class TestWhatIsStored:
    """The ref as stored: its canonical key, and when it is first polled."""

    async def test_canonical_key_and_first_poll(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        submitted = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
        item = {"account": "eu", "id": IDS[0].upper(), "submitted_at": submitted.isoformat()}
        # An old submission is polled at once: its first poll time has passed.
        assert (await post(client, item))[0] == 202
        at = submitted.timestamp()
        store = exporter.store
        assert await store.due_refs("eu", at + FIRST_POLL - 1, 10) == []
        [(due_at, row)] = await store.due_refs("eu", at + FIRST_POLL, 10)
        assert due_at == at + FIRST_POLL
        # The stored form is part of the store's format: duplicates are found by it,
        # across restarts and versions.
        assert row.ref_key == json.dumps({"id": IDS[0]}, separators=(",", ":"))


class TestCounts:
    """Every result is counted under its own name, and starts at 0."""

    async def test_results_counted(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        for result in ("accepted", "duplicate", "sampled_out", "invalid"):
            assert counted(exporter, "eu", result) == 0, result
        await post(client, [{"account": "eu", "id": i} for i in IDS[:3]])
        await post(client, [{"account": "eu", "id": IDS[0]}])
        await post(client, [{"account": "eu", "id": IDS[4]}, {"account": "eu", "id": "x"}])
        ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(100, 140)]
        _, sampled = await post(client, [{"account": "us", "id": i} for i in ids])
        assert counted(exporter, "eu", "accepted") == 3
        assert counted(exporter, "eu", "duplicate") == 1
        assert counted(exporter, "eu", "invalid") == 1
        assert counted(exporter, "us", "accepted") == sampled["accepted"]
        assert counted(exporter, "us", "sampled_out") == sampled["sampled_out"] > 0


def test_sampling_is_the_same_in_every_version() -> None:
    """Which refs a rate keeps is fixed by their names: a ref sampled out stays out across
    restarts and upgrades (these decisions were made by the first version)."""
    refs = [f'{{"id":"{i}"}}' for i in IDS]
    assert [sampled_in("us", ref, 0.5) for ref in refs] == [
        decision == "in"
        for decision in ("in", "out", "out", "in", "in", "out", "out", "in", "in", "in")
    ]
    assert all(sampled_in("us", ref, 1.0) for ref in refs)


async def test_label_sets_zeroed_again_after_a_restart(
    tmp_path: Path, start_exporter: Start, start_namirial: Start
) -> None:
    """Series of every label set seen before a restart are back at once, before any intake."""
    _, url = await start_namirial()
    account = namirial_account(url, "k", schedule={"first_poll": "1h"})
    config, _ = make_config(tmp_path, {"eu": account}, intake={"labels": {"keys": ["team"]}})
    _, client = await start_exporter(config)
    await post(client, [{"account": "eu", "id": IDS[0], "labels": {"team": "payments"}}])
    await client.close()
    again, _ = await start_exporter(config)
    failures = {
        "provider": "namirial",
        "account": "eu",
        "channel": "sms",
        "status": "undelivered",
        "reason": "unreachable",
    }
    for team in ("payments", ""):
        assert again.sample("sms_message_failures_total", {**failures, "team": team}) == 0, team

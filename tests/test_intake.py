"""POST /api/v1/messages: every shape of good and bad input, and what a refusal leaves behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RunningExporter, make_config, namirial_account

Start = Callable[..., Any]
TOKEN = "s3cret-intake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(10)]


@pytest.fixture
async def intake(
    tmp_path: Path, start_exporter: Start, start_namirial: Start
) -> tuple[RunningExporter, Any]:
    _, url = await start_namirial()
    # A slow first poll keeps the refs untouched while the tests look at them.
    account = namirial_account(url, "k", schedule={"first_poll": "1h"})
    config, _ = make_config(
        tmp_path,
        {"eu": account, "us": namirial_account(url, "k", sample_rate=0.5)},
        intake={
            "token": TOKEN,
            "max_body_bytes": 16384,
            "labels": {"keys": ["team"], "max_values_per_key": 2},
        },
    )
    exporter, client = await start_exporter(config)
    return exporter, client


async def refs(exporter: RunningExporter) -> int:
    return await exporter.store.count_refs()


def counter(exporter: RunningExporter, name: str, **labels: str) -> float:
    return exporter.sample(name, labels) or 0.0


class TestAccepted:
    """Objects, arrays and NDJSON are registered and acknowledged after commit."""

    async def test_object(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        response = await client.post(
            "/api/v1/messages", json={"account": "eu", "id": IDS[0]}, headers=AUTH
        )
        assert response.status == 202
        assert await response.json() == {"accepted": 1, "duplicates": 0, "sampled_out": 0}
        assert await refs(exporter) == 1
        assert (
            counter(
                exporter, "sms_messages_tracked_total", provider="namirial", account="eu", team=""
            )
            == 1
        )

    async def test_array_and_duplicates(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        items = [{"account": "eu", "id": i} for i in IDS[:3]]
        await client.post("/api/v1/messages", json=items[:1], headers=AUTH)
        response = await client.post("/api/v1/messages", json=[*items, items[2]], headers=AUTH)
        assert await response.json() == {"accepted": 2, "duplicates": 2, "sampled_out": 0}
        assert await refs(exporter) == 3
        assert counter(exporter, "sms_exporter_intake_total", account="eu", result="duplicate") == 2

    async def test_ndjson_with_blank_lines(self, intake: tuple[RunningExporter, Any]) -> None:
        _, client = intake
        body = "\n".join(json.dumps({"account": "eu", "id": i}) for i in IDS[:4]) + "\n\n"
        response = await client.post(
            "/api/v1/messages", data=body, headers={**AUTH, "Content-Type": "application/x-ndjson"}
        )
        assert (await response.json())["accepted"] == 4

    async def test_uppercase_id_is_a_duplicate_of_lowercase(
        self, intake: tuple[RunningExporter, Any]
    ) -> None:
        _, client = intake
        await client.post("/api/v1/messages", json={"account": "eu", "id": IDS[0]}, headers=AUTH)
        response = await client.post(
            "/api/v1/messages", json={"account": "eu", "id": IDS[0].upper()}, headers=AUTH
        )
        assert (await response.json())["duplicates"] == 1

    async def test_sampling_is_deterministic(self, intake: tuple[RunningExporter, Any]) -> None:
        _, client = intake
        ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(200)]
        body = [{"account": "us", "id": i} for i in ids]
        first = await (await client.post("/api/v1/messages", json=body, headers=AUTH)).json()
        again = await (await client.post("/api/v1/messages", json=body, headers=AUTH)).json()
        assert 60 <= first["accepted"] <= 140
        assert first["accepted"] + first["sampled_out"] == 200
        assert again == {
            "accepted": 0,
            "duplicates": first["accepted"],
            "sampled_out": first["sampled_out"],
        }

    async def test_label_values_capped(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        teams = ["a", "b", "c", "a"]
        body = [
            {"account": "eu", "id": i, "labels": {"team": t}}
            for i, t in zip(IDS, teams, strict=False)
        ]
        assert (await client.post("/api/v1/messages", json=body, headers=AUTH)).status == 202
        tracked = {
            t: counter(
                exporter, "sms_messages_tracked_total", provider="namirial", account="eu", team=t
            )
            for t in ("a", "b", "c", "other")
        }
        assert tracked == {"a": 2, "b": 1, "c": 0, "other": 1}
        # A new label set is zero-initialised across the outcome series.
        assert (
            exporter.sample(
                "sms_messages_final_total",
                {
                    "provider": "namirial",
                    "account": "eu",
                    "channel": "sms",
                    "status": "delivered",
                    "team": "b",
                },
            )
            == 0
        )


class TestRefused:
    """A bad batch gets 400 with every problem, and nothing of it is applied."""

    @pytest.mark.parametrize(
        ("item", "field", "message"),
        [
            ({"id": IDS[0]}, "account", "field required"),
            (
                {"account": "mars", "id": IDS[0]},
                "account",
                "unknown account; configured accounts: eu, us",
            ),
            ({"account": "eu"}, "id", "Field required"),
            ({"account": "eu", "id": "nope"}, "id", "String should match pattern"),
            (
                {"account": "eu", "id": IDS[0], "msisdn": "+39"},
                "msisdn",
                "unknown field for provider 'namirial'",
            ),
            (
                {"account": "eu", "id": IDS[0], "submitted_at": "yesterday"},
                "submitted_at",
                "not an RFC 3339",
            ),
            (
                {"account": "eu", "id": IDS[0], "submitted_at": "2026-01-01T00:00:00"},
                "submitted_at",
                "time zone",
            ),
            (
                {"account": "eu", "id": IDS[0], "submitted_at": "2999-01-01T00:00:00Z"},
                "submitted_at",
                "future",
            ),
            (
                {"account": "eu", "id": IDS[0], "labels": {"region": "x"}},
                "labels.region",
                "not a configured",
            ),
            (
                {"account": "eu", "id": IDS[0], "labels": {"team": 5}},
                "labels.team",
                "must be a string",
            ),
            ({"account": "eu", "id": IDS[0], "labels": ["team"]}, "labels", "must be an object"),
        ],
    )
    async def test_bad_item(
        self, intake: tuple[RunningExporter, Any], item: dict[str, Any], field: str, message: str
    ) -> None:
        exporter, client = intake
        good = {"account": "eu", "id": IDS[5]}
        response = await client.post("/api/v1/messages", json=[good, item], headers=AUTH)
        assert response.status == 400
        body = await response.json()
        assert "nothing in this batch was registered" in body["error"]
        [problem] = body["errors"]
        assert problem["index"] == 1 and problem["field"] == field
        assert message in problem["error"]
        assert await refs(exporter) == 0
        assert (
            counter(
                exporter, "sms_messages_tracked_total", provider="namirial", account="eu", team=""
            )
            == 0
        )

    async def test_every_problem_listed(self, intake: tuple[RunningExporter, Any]) -> None:
        _, client = intake
        response = await client.post(
            "/api/v1/messages",
            json=[{"account": "eu"}, 7, {"account": "eu", "id": "x"}],
            headers=AUTH,
        )
        indexes = [p["index"] for p in (await response.json())["errors"]]
        assert indexes == [0, 1, 2]

    async def test_refused_batch_does_not_use_up_label_values(
        self, intake: tuple[RunningExporter, Any]
    ) -> None:
        exporter, client = intake
        bad = [
            {"account": "eu", "id": IDS[0], "labels": {"team": "x"}},
            {"account": "eu", "id": "bad"},
        ]
        assert (await client.post("/api/v1/messages", json=bad, headers=AUTH)).status == 400
        good = [{"account": "eu", "id": IDS[1], "labels": {"team": t}} for t in ("y",)] + [
            {"account": "eu", "id": IDS[2], "labels": {"team": "z"}}
        ]
        assert (await client.post("/api/v1/messages", json=good, headers=AUTH)).status == 202
        assert (
            counter(
                exporter, "sms_messages_tracked_total", provider="namirial", account="eu", team="z"
            )
            == 1
        )

    async def test_invalid_items_counted(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        await client.post("/api/v1/messages", json=[{"account": "eu", "id": "x"}], headers=AUTH)
        assert counter(exporter, "sms_exporter_intake_total", account="eu", result="invalid") == 1

    @pytest.mark.parametrize(
        ("body", "content_type", "message"),
        [
            (b"", "application/json", "empty"),
            (b"{not json", "application/json", "not valid JSON"),
            (b"42", "application/json", "must be a JSON object or an array"),
            (b"[]", "application/json", "empty array"),
            (b'{"account": "eu"}\n{broken', "application/x-ndjson", "NDJSON line 2"),
            (b"\xff\xfe", "application/json", "not UTF-8"),
        ],
    )
    async def test_unreadable_body(
        self, intake: tuple[RunningExporter, Any], body: bytes, content_type: str, message: str
    ) -> None:
        _, client = intake
        response = await client.post(
            "/api/v1/messages", data=body, headers={**AUTH, "Content-Type": content_type}
        )
        assert response.status == 400
        assert message in (await response.json())["error"]

    async def test_too_large(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        body = [{"account": "eu", "id": IDS[0]}] * 400
        response = await client.post("/api/v1/messages", json=body, headers=AUTH)
        assert response.status == 413
        assert "max_body_bytes (16384 bytes)" in (await response.json())["error"]
        assert await refs(exporter) == 0

    @pytest.mark.parametrize("header", [None, "Bearer wrong", f"Basic {TOKEN}", TOKEN])
    async def test_token_required(
        self, intake: tuple[RunningExporter, Any], header: str | None
    ) -> None:
        exporter, client = intake
        headers = {"Authorization": header} if header else {}
        response = await client.post(
            "/api/v1/messages", json={"account": "eu", "id": IDS[0]}, headers=headers
        )
        assert response.status == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert TOKEN not in await response.text()
        assert await refs(exporter) == 0

"""The intake under hostile bodies: bounded work, every bad input a 4xx naming what is wrong."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import RunningExporter, make_config, namirial_account

Start = Callable[..., Any]
TOKEN = "bounds-intake-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(200)]


@pytest.fixture
async def intake(
    tmp_path: Path, start_exporter: Start, start_namirial: Start
) -> tuple[RunningExporter, Any]:
    _, url = await start_namirial()
    config, _ = make_config(
        tmp_path,
        {"eu": namirial_account(url, "k", schedule={"first_poll": "1h"})},
        intake={
            "token": TOKEN,
            "max_items": 100,
            "labels": {"keys": ["team", "tier"], "patterns": {"tier": "[a-z]+"}},
        },
    )
    started: tuple[RunningExporter, Any] = await start_exporter(config)
    return started


async def problems(response: Any) -> dict[str, Any]:
    assert response.status == 400, await response.text()
    body: dict[str, Any] = await response.json()
    return body


class TestBoundedWork:
    """Caps on items, item size and nesting; the error body stays small."""

    async def test_too_many_items(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        # Far more lines than allowed: refused after the first hundred, nothing registered.
        body = "\n".join(json.dumps({"account": "eu", "id": IDS[0]}) for _ in range(50_000))
        response = await client.post("/api/v1/messages", data=body, headers=NDJSON)
        assert response.status == 413
        assert "more than 100 items" in (await response.json())["error"]
        ones = await client.post("/api/v1/messages", data="1\n" * 200_000, headers=NDJSON)
        assert ones.status == 413
        array = await client.post("/api/v1/messages", json=[1] * 101, headers=AUTH)
        assert array.status == 413
        assert await exporter.store.count_refs() == 0

    @pytest.mark.parametrize("depth", [1000, 50, 9])
    async def test_deep_nesting(self, intake: tuple[RunningExporter, Any], depth: int) -> None:
        exporter, client = intake
        nested = "[" * depth + "]" * depth
        response = await client.post("/api/v1/messages", data=nested, headers=AUTH)
        assert "nested more than 8 levels" in (await problems(response))["error"]
        # Inside an item, on an NDJSON line: the same answer.
        item = f'{{"account": "eu", "id": "{IDS[0]}", "labels": {nested}}}'
        response = await client.post("/api/v1/messages", data=item, headers=NDJSON)
        assert "nested more than 8 levels" in (await problems(response))["error"]
        assert await exporter.store.count_refs() == 0

    @pytest.mark.parametrize("coding", ["gzip", "deflate", "br", "GZIP "])
    async def test_compressed_bodies_refused_never_inflated(
        self, intake: tuple[RunningExporter, Any], coding: str
    ) -> None:
        exporter, client = intake
        batch = json.dumps([{"account": "eu", "id": IDS[0]}]).encode()
        headers = {**AUTH, "Content-Type": "application/json", "Content-Encoding": coding}
        response = await client.post("/api/v1/messages", data=gzip.compress(batch), headers=headers)
        assert response.status == 415
        assert "Content-Encoding" in (await response.json())["error"]
        plain = await client.post(
            "/api/v1/messages", json=[{"account": "eu", "id": IDS[0]}], headers=AUTH
        )
        assert plain.status == 202 and await exporter.store.count_refs() == 1

    async def test_huge_item(self, intake: tuple[RunningExporter, Any]) -> None:
        _, client = intake
        item = {"account": "eu", "id": IDS[0], "pad": "x" * 100_000}
        response = await client.post("/api/v1/messages", json=[item], headers=AUTH)
        assert "item 0 is longer than 16384 characters" in (await problems(response))["error"]

    async def test_error_body_lists_the_first_problems(
        self, intake: tuple[RunningExporter, Any]
    ) -> None:
        _, client = intake
        body = [{"account": "eu", "id": "not-a-uuid"}] * 100
        answer = await problems(await client.post("/api/v1/messages", json=body, headers=AUTH))
        assert len(answer["errors"]) == 20
        assert answer["more_errors"] == 80
        assert answer["error"].startswith("100 problem(s)")


class TestClearAnswers:
    """Odd but readable input gets an answer about the item, never a 500."""

    @pytest.mark.parametrize("account", [["eu"], {"eu": 1}, 7, None, True])
    async def test_account_of_another_type(
        self, intake: tuple[RunningExporter, Any], account: Any
    ) -> None:
        _, client = intake
        item = {"account": account, "id": IDS[0]}
        answer = await problems(await client.post("/api/v1/messages", json=item, headers=AUTH))
        assert answer["errors"][0]["field"] == "account"

    async def test_line_separator_inside_a_string(
        self, intake: tuple[RunningExporter, Any]
    ) -> None:
        exporter, client = intake
        lines = [
            json.dumps({"account": "eu", "id": IDS[0]}),
            json.dumps({"account": "e\u2028u", "id": IDS[1]}, ensure_ascii=False),
            json.dumps({"account": "eu", "id": IDS[2]}),
        ]
        body = "\n".join(lines).encode()
        answer = await problems(await client.post("/api/v1/messages", data=body, headers=NDJSON))
        # Three lines read (U+2028 does not end a line); the second item is the bad one.
        assert [(e["index"], e["field"]) for e in answer["errors"]] == [(1, "account")]
        assert await exporter.store.count_refs() == 0

    async def test_bearer_scheme_in_any_case(self, intake: tuple[RunningExporter, Any]) -> None:
        _, client = intake
        for scheme in ("bearer", "BEARER", "Bearer"):
            headers = {"Authorization": f"{scheme} {TOKEN}"}
            item = {"account": "eu", "id": IDS[3]}
            response = await client.post("/api/v1/messages", json=item, headers=headers)
            assert response.status == 202

    @pytest.mark.parametrize(
        "when", ["0001-01-01T00:00:00Z", "1970-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00"]
    )
    async def test_ancient_submission(self, intake: tuple[RunningExporter, Any], when: str) -> None:
        exporter, client = intake
        item = {"account": "eu", "id": IDS[0], "submitted_at": when}
        answer = await problems(await client.post("/api/v1/messages", json=item, headers=AUTH))
        [error] = answer["errors"]
        assert error["field"] == "submitted_at"
        assert "older than the account's tracking window (1d)" in error["error"]
        assert await exporter.store.count_refs() == 0


class TestLabelValues:
    """Label values are short visible text of the key's pattern, never a phone number."""

    @pytest.mark.parametrize(
        ("value", "message"),
        [
            ("+393331234567", "looks like a phone number"),
            ("393331234567", "looks like a phone number"),
            ("+1 (415) 555-0100", "looks like a phone number"),
            ("team-333.123.4567", "looks like a phone number"),
            ("pay\x00ments", "U+0000"),
            ("\x1b[31mred", "U+001B"),
            ("abc\u202edef", "U+202E"),
            ("zero\u200bwidth", "U+200B"),
            ("x" * 129, "longer than 128 characters"),
            ("with space", "does not match the pattern"),
            ('quo"te', "does not match the pattern"),
        ],
    )
    async def test_refused(
        self, intake: tuple[RunningExporter, Any], value: str, message: str
    ) -> None:
        exporter, client = intake
        item = {"account": "eu", "id": IDS[0], "labels": {"team": value}}
        answer = await problems(await client.post("/api/v1/messages", json=item, headers=AUTH))
        [error] = answer["errors"]
        assert error["field"] == "labels.team"
        assert message in error["error"]
        assert value not in json.dumps(answer, ensure_ascii=False)
        assert await exporter.store.count_refs() == 0
        text = "\n".join(f"{k} {v}" for k, v in exporter.samples())
        assert value not in text

    async def test_pattern_per_key(self, intake: tuple[RunningExporter, Any]) -> None:
        exporter, client = intake
        refused = {"account": "eu", "id": IDS[0], "labels": {"tier": "Gold"}}
        answer = await problems(await client.post("/api/v1/messages", json=refused, headers=AUTH))
        assert "does not match the pattern [a-z]+" in answer["errors"][0]["error"]
        good = {"account": "eu", "id": IDS[1], "labels": {"team": "payments-eu:2", "tier": "gold"}}
        assert (await client.post("/api/v1/messages", json=good, headers=AUTH)).status == 202
        tracked = exporter.sample(
            "sms_messages_tracked_total",
            {"provider": "namirial", "account": "eu", "team": "payments-eu:2", "tier": "gold"},
        )
        assert tracked == 1

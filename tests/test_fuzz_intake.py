"""The intake fuzzed (hypothesis): any body, any content type, any header bytes. Never a 5xx,
never a crash, nothing applied from a refused request, the token never echoed or logged."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sms_delivery_exporter.web.serving import Serving
from tests.helpers import RunningExporter, make_config, namirial_account
from tests.served import raw_request, served

TOKEN = "fuzz-intake-token-0123456789"
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=os.environ.get("FUZZ_RANDOM") is None,  # make test: the same examples each run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
UUIDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(30)]

leaves = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["eu", "us", "", "+393331234567", "2026-11-23T00:00:00Z", "\u2028", "\x00"])
)
json_values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=12,
)
items = st.fixed_dictionaries(
    {},
    optional={
        "account": st.sampled_from(["eu", "EU", "mars"]) | json_values,
        "id": st.sampled_from(UUIDS) | json_values,
        "submitted_at": st.sampled_from(["0001-01-01T00:00:00Z", "1970-01-01T00:00:00+14:00"])
        | json_values,
        "labels": st.fixed_dictionaries({}, optional={"team": st.text(max_size=40) | json_values})
        | json_values,
        "extra": json_values,
    },
)


def ndjson(values: list[Any]) -> bytes:
    return "\n".join(json.dumps(value, ensure_ascii=False) for value in values).encode()


bodies = (
    st.lists(items, min_size=1, max_size=8).map(lambda v: json.dumps(v).encode())
    | items.map(lambda v: json.dumps(v).encode())
    | st.lists(items | json_values, max_size=8).map(ndjson)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.binary(max_size=300)
    | st.integers(min_value=1, max_value=3000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(min_value=1, max_value=3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
)
content_types = st.sampled_from(
    [
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "text/plain",
        "",
        "application/json; charset=latin-1",
        "Application/X-NDJSON",
    ]
)
authorizations = st.sampled_from(
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"Basic {TOKEN}", "Bearer wrong", None]
)


@pytest.fixture
async def exporter(tmp_path: Path) -> AsyncIterator[tuple[RunningExporter, Serving]]:
    config, _ = make_config(
        tmp_path,
        {"eu": namirial_account("http://127.0.0.1:9", "k", schedule={"first_poll": "1h"})},
        intake={"token": TOKEN, "max_items": 20, "labels": {"keys": ["team"]}},
    )
    async with served(config) as running:
        yield running


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def tracked(running: RunningExporter) -> tuple[int, float]:
    samples = running.samples()
    total = sum(v for (n, _), v in samples.items() if n == "sms_messages_tracked_total")
    return await running.store.count_refs(), total


@FUZZ
@given(body=bodies, content_type=content_types, authorization=authorizations)
async def test_any_body(
    exporter: tuple[RunningExporter, Serving],
    session: aiohttp.ClientSession,
    caplog: pytest.LogCaptureFixture,
    body: bytes,
    content_type: str,
    authorization: str | None,
) -> None:
    running, serving = exporter
    headers = {"Content-Type": content_type}
    if authorization is not None:
        headers["Authorization"] = authorization
    before = await tracked(running)
    with caplog.at_level(logging.DEBUG):
        async with session.post(
            f"{serving.url}/api/v1/messages", data=body, headers=headers
        ) as response:
            answer = await response.read()
            status = response.status
    assert status < 500, answer[:300]
    reply = json.loads(answer)
    after = await tracked(running)
    if status == 202:
        assert after[0] - before[0] == reply["accepted"]
    else:
        assert reply["error"]  # every refusal says what is wrong
        assert after == before  # and nothing of it was applied
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


header_bytes = st.binary(max_size=40)


@FUZZ
@given(
    prefix=header_bytes,
    suffix=header_bytes,
    name=st.sampled_from([b"Authorization", b"Content-Type", b"Content-Length", b"X-Any"])
    | header_bytes,
    value=header_bytes,
)
async def test_any_header_bytes(
    exporter: tuple[RunningExporter, Serving],
    caplog: pytest.LogCaptureFixture,
    prefix: bytes,
    suffix: bytes,
    name: bytes,
    value: bytes,
) -> None:
    running, serving = exporter
    body = json.dumps({"account": "eu", "id": UUIDS[0]}).encode()
    request = (
        b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\n"
        + b"Authorization: "
        + prefix
        + TOKEN.encode()
        + suffix
        + b"\r\n"
        + name
        + b": "
        + value
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    before = await tracked(running)
    with caplog.at_level(logging.DEBUG):
        answer = await raw_request(serving.site.bound_port, request)
    status = int(answer.split(b" ", 2)[1]) if answer[:5] == b"HTTP/" else 0
    assert 100 <= status < 500 or answer == b"", answer[:300]
    assert TOKEN.encode() not in answer
    if status != 202:
        assert await tracked(running) == before
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert TOKEN not in logged
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

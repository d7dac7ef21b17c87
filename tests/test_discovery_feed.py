"""SFMC's not-sent feed: rejected messages counted without registration, once, across restarts.

The exporter in-process against the transactional simulator, whose feed
gives each refusal an event ID; registered keys and fed keys are one message.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sms_delivery_exporter.config import ConfigError
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.sfmc_transactional.simulator import TransactionalSimulator
from tests.helpers import make_config, parse_samples, total, wait_for

Start = Callable[..., Any]
MOSTLY_REFUSED = Scenario(
    delivered=0.5,
    undelivered=0,
    rejected=0.5,
    reasons={"unsubscribed": 2, "address_not_found": 1},
    queue_seconds=0.05,
    latency_median=0.2,
    latency_max=0.5,
    seed=11,
)


async def value(client: Any, name: str, **labels: str) -> float:
    page = parse_samples(await (await client.get("/metrics")).text())
    return total(page, name, account="tx", **labels)


@pytest.fixture
async def feed(serve: Start) -> tuple[TransactionalSimulator, dict[str, Any]]:
    simulator = TransactionalSimulator(scenario=MOSTLY_REFUSED)
    url = await serve(simulator.app())
    account = {
        "provider": "sfmc_transactional",
        **simulator.account_options(url),
        "schedule": {"first_poll": "0s", "initial_interval": "100ms", "max_interval": "300ms"},
        "discovery": {"not_sent": True, "interval": "1s", "page_size": 7},
    }
    return simulator, account


async def test_refusals_counted_once_without_registration(
    tmp_path: Path, feed: tuple[TransactionalSimulator, dict[str, Any]], start_exporter: Start
) -> None:
    simulator, account = feed
    sent = simulator.send(60)
    refused = [m for m in sent if m.fate == "rejected"]
    assert len(refused) > 20
    config, _ = make_config(tmp_path, {"tx": account})
    _, client = await start_exporter(config)
    # A few keys are registered too, refused and not: each is one message.
    registered = [refused[0].id, refused[1].id, next(m.id for m in sent if m.fate != "rejected")]
    response = await client.post(
        "/api/v1/messages", json=[{"account": "tx", "message_key": k} for k in registered]
    )
    assert response.status == 202

    async def rejected_all() -> bool:
        return await value(client, "sms_messages_final_total", status="rejected") == len(refused)

    await wait_for(rejected_all, what="every refusal counted")
    counted_at = time.time()

    async def cursor_saved() -> bool:
        # A walk's refs are committed before its cursor: a walk ended since saved it.
        return (
            await value(client, "sms_discovery_last_success_timestamp_seconds", feed="not_sent")
            >= counted_at
        )

    await wait_for(cursor_saved, what="a walk ended after every refusal was counted")
    assert await value(client, "sms_messages_tracked_total") == len(refused) + 1
    by_reason = {
        reason: await value(client, "sms_message_failures_total", reason=reason)
        for reason in ("unsubscribed", "address_not_found")
    }
    truth = simulator.truth()["reasons"]
    assert by_reason == {reason: float(truth.get(f"rejected/{reason}", 0)) for reason in by_reason}
    assert await value(client, "sms_messages_tracked_from_discovery_total", feed="not_sent") in (
        len(refused) - 2,
        len(refused) - 1,
        len(refused),
    )

    await client.close()
    calls = len(simulator.feed_positions)
    more = [m for m in simulator.send(20) if m.fate == "rejected"]
    _, client = await start_exporter(config)

    async def all_counted() -> bool:
        counted = await value(client, "sms_messages_final_total", status="rejected")
        return counted == len(refused) + len(more)

    await wait_for(all_counted, what="the refusals after the restart")
    # The restarted exporter resumed where the first left the feed, not at its start.
    assert simulator.feed_positions[calls] == len(refused)
    assert await value(client, "sms_messages_final_total", status="rejected") == len(refused) + len(
        more
    )


def test_block_must_enable_the_feed(tmp_path: Path) -> None:
    account = {
        "provider": "sfmc_transactional",
        "auth_url": "http://127.0.0.1:1/v2/token",
        "client_id": "c",
        "client_secret": "s",
        "discovery": {},
    }
    with pytest.raises(ConfigError, match="not_sent: true"):
        make_config(tmp_path, {"tx": account})

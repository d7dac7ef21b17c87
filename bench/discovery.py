"""API calls per message: discovery by reference key against polling each message by id.

One reference key receives 10, 100 or 1,000 messages a minute for 20
minutes of virtual time (the Namirial demo scenario: median delivery 4 s,
30% RCS of which 60% read about a minute after delivery, 2.5% failing; and
the same with SMS only). The discovery path is the real code: the
Namirial simulator on loopback (its clock moved by hand), the plugin's
discoverer and the host's walk every 30 s (``discovery.interval``), each
new message's list answer applied by the ``Tracker``; a message the list
shows open is then polled by id on the account's default schedule in
virtual time until final. The by-id path polls every message from its
submission on the same schedule through the same ``Tracker``. Both count
calls until every message is final (RCS read receipts included).
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from sms_delivery_exporter.api import ProviderHttp, RefReport, ScheduleSettings
from sms_delivery_exporter.discovery import FeedCursor, walk_back
from sms_delivery_exporter.polling import RateLimiter
from sms_delivery_exporter.polling.tracker import AccountRules, Tracker
from sms_delivery_exporter.store import DueRef
from sms_delivery_exporter.testing import SimMessage
from sms_delivery_providers.namirial.discovery import (
    NamirialDiscoverer,
    NamirialDiscoverySettings,
)
from sms_delivery_providers.namirial.message import parse_message
from sms_delivery_providers.namirial.provider import NamirialSettings
from sms_delivery_providers.namirial.simulator import DEMO_SCENARIO, NamirialSimulator

RATES = (10, 100, 1000)
MINUTES = 20
INTERVAL = 30.0
SCHEDULE = ScheduleSettings()
START = 1_790_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


def _tracker() -> Tracker:
    return Tracker(
        AccountRules(
            provider="namirial",
            account="bench",
            schedule=SCHEDULE,
            reasons=frozenset(),
            channels=("sms", "rcs"),
            read_channels=frozenset({"rcs"}),
        )
    )


def polls_until_final(
    simulator: NamirialSimulator, clock: Clock, message: SimMessage, row: DueRef, due: float | None
) -> int:
    """Polls by id from ``due`` on, in virtual time, until the tracker finishes the ref."""
    tracker = _tracker()
    calls = 0
    while due is not None:
        clock.now = due
        report = RefReport([parse_message(simulator.render(message))])
        update, _ = tracker.report(row, report, due)
        calls += 1
        row = DueRef(
            0, row.ref_key, "", row.submitted_at, update.polls, update.last_poll_at, update.state
        )
        due = update.next_poll_at
    return calls


async def discovery_path(rate: int, rcs_share: float) -> dict[str, Any]:
    clock = Clock()
    simulator = NamirialSimulator(
        api_key="k",
        scenario=DEMO_SCENARIO.model_copy(
            update={"throttle_rate": 0, "error_rate": 0, "seed": rate, "rcs_share": rcs_share}
        ),
        clock=clock,
        log_requests=False,
    )
    server = TestServer(simulator.app(), host="127.0.0.1")
    await server.start_server()
    settings = NamirialSettings(provider="namirial", base_url=str(server.make_url("")), api_key="k")
    async with aiohttp.ClientSession() as session:
        http = ProviderHttp(
            session, limiter=RateLimiter(1e6), timeout=10, observe=lambda c, s: None
        )
        discoverer = NamirialDiscoverer(
            settings, NamirialDiscoverySettings(references=("bench",)), http
        )
        feed = discoverer.feeds()[0]
        cursor = FeedCursor()
        tracker = _tracker()
        open_after_list: list[tuple[SimMessage, DueRef, float | None]] = []
        gap = 60.0 / rate
        found = 0
        next_send = START
        end = START + MINUTES * 60
        walk_at = START + INTERVAL
        while walk_at <= end + INTERVAL:
            while next_send < min(walk_at, end):
                clock.now = next_send
                simulator.send(1, reference="bench")
                next_send += gap
            clock.now = walk_at
            walked = await walk_back(discoverer, feed, cursor, since=0, max_pages=1000)
            cursor = walked.cursor
            for key, message in walked.new:
                found += 1
                sent = message.sent_at or walk_at
                update, _ = tracker.report(
                    DueRef(0, key, "", sent, 0, None, ""), message.report, walk_at
                )
                if update.next_poll_at is not None:
                    row = DueRef(0, key, "", sent, update.polls, update.last_poll_at, update.state)
                    sim_message = simulator.messages[message.ref.id]  # type: ignore[attr-defined]
                    open_after_list.append((sim_message, row, update.next_poll_at))
            walk_at += INTERVAL
        list_calls = simulator.list_requests
        by_id = sum(
            polls_until_final(simulator, clock, m, row, due) for m, row, due in open_after_list
        )
        sent_messages = list(simulator.messages.values())
    await server.close()
    return {
        "sent": len(sent_messages),
        "found": found,
        "list_calls": list_calls,
        "open_after_list": len(open_after_list),
        "id_polls_after_list": by_id,
        "messages": sent_messages,
        "simulator": simulator,
        "clock": clock,
    }


def by_id_path(simulator: NamirialSimulator, clock: Clock, messages: list[SimMessage]) -> int:
    """Every message registered at its send and polled by id until final."""
    calls = 0
    for message in messages:
        row = DueRef(0, message.id, "", message.accepted_at, 0, None, "")
        calls += polls_until_final(
            simulator, clock, message, row, message.accepted_at + SCHEDULE.first_poll
        )
    return calls


def run() -> dict[str, Any]:
    started = time.monotonic()
    results: dict[str, Any] = {"minutes": MINUTES, "discovery_interval_s": INTERVAL}
    for label, rcs_share in (("demo_mix", DEMO_SCENARIO.rcs_share), ("sms_only", 0.0)):
        for rate in RATES:
            found = asyncio.run(discovery_path(rate, rcs_share))
            messages = found.pop("messages")
            baseline = by_id_path(found.pop("simulator"), found.pop("clock"), messages)
            sent = found["sent"]
            discovered_calls = found["list_calls"] + found["id_polls_after_list"]
            results[f"{label}_{rate}_per_minute"] = {
                **found,
                "discovery_calls_per_message": round(discovered_calls / sent, 3),
                "by_id_calls_per_message": round(baseline / sent, 3),
                "ratio": round(discovered_calls / baseline, 3),
            }
    results["seconds"] = round(time.monotonic() - started, 1)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""Fair polling: new messages are polled on time even when read-receipt waits exceed the budget.

One account at 50 requests a second polls 2,000 delivered RCS messages that are
never read (each wants a poll every 5 s: 400 a second, eight times the budget)
while new SMS messages arrive at 5 a second. The figure is the delay from a
message's registration to its first poll, percentiles over a minute of
arrivals; beside it in the same run, the same load with every ref in one
priority class (as before fair polling), so the difference is the classes'.
Exporter and simulator run in one process (the scheduling is the question,
not the throughput).
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from sms_delivery_exporter.app import create_app
from sms_delivery_exporter.config import parse_config
from sms_delivery_exporter.plugin_host import collect_providers, make_plugin_manager
from sms_delivery_exporter.polling.tracker import Tracker
from sms_delivery_exporter.testing import Scenario, free_port
from sms_delivery_providers.namirial.simulator import NamirialSimulator

RATE_LIMIT = 50
READ_WAITS = 2_000
ARRIVALS_PER_SECOND = 5
ARRIVAL_SECONDS = 60
FIRST_POLL = 1.0
KEY = "bench-key"


def run() -> dict[str, Any]:
    fair = asyncio.run(measure())
    with one_class():
        unfair = asyncio.run(measure())
    return {
        "rate_limit": RATE_LIMIT,
        "read_receipt_waits": READ_WAITS,
        "first_poll": FIRST_POLL,
        "fair": fair,
        "one_class": unfair,
    }


@contextmanager
def one_class() -> Iterator[None]:
    """Every ref in class 0, as before fair polling."""
    original = Tracker._priority
    Tracker._priority = lambda self, *, in_flight, interval: 0  # type: ignore[method-assign]
    try:
        yield
    finally:
        Tracker._priority = original  # type: ignore[method-assign]


async def serve(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner


async def measure() -> dict[str, float | None]:
    simulator = NamirialSimulator(
        api_key=KEY,
        scenario=Scenario(
            delivered=1,
            undelivered=0,
            rejected=0,
            latency_median=0.5,
            latency_sigma=0.1,
            rcs_share=1.0,
            read_share=0.0,
        ),
        log_requests=False,
    )
    simulator_port, exporter_port = free_port(), free_port()
    sim_runner = await serve(simulator.app(), simulator_port)
    with tempfile.TemporaryDirectory() as workdir:
        account = {
            "provider": "namirial",
            "base_url": f"http://127.0.0.1:{simulator_port}",
            "api_key": KEY,
            "rate_limit": RATE_LIMIT,
            "concurrency": 8,
            "schedule": {
                "first_poll": f"{FIRST_POLL}s",
                "initial_interval": "1s",
                "max_interval": "5s",
                "read_receipt_window": "1h",
            },
        }
        document = {"store": {"path": str(Path(workdir) / "fair.db")}, "accounts": {"rcs": account}}
        config = parse_config(
            yaml.safe_dump(document), collect_providers(make_plugin_manager()), {}
        )
        exporter_runner = await serve(create_app(config), exporter_port)
        url = f"http://127.0.0.1:{exporter_port}/api/v1/messages"
        try:
            async with aiohttp.ClientSession() as session:
                waits = [{"account": "rcs", "id": m.id} for m in simulator.send(READ_WAITS)]
                for start in range(0, len(waits), 500):
                    async with session.post(url, json=waits[start : start + 500]) as response:
                        assert response.status == 202
                # Until every RCS message is delivered and only waits for its read receipt.
                deadline = time.monotonic() + 120
                while simulator.requests < READ_WAITS * 2 and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.5)
                registered: dict[str, float] = {}
                for _ in range(ARRIVAL_SECONDS * ARRIVALS_PER_SECOND // 5):
                    new = simulator.send(5, channel="sms")
                    body = [{"account": "rcs", "id": m.id} for m in new]
                    async with session.post(url, json=body) as response:
                        assert response.status == 202
                    now = time.time()
                    registered.update((m.id, now) for m in new)
                    await asyncio.sleep(5 / ARRIVALS_PER_SECOND)  # the arrivals' pace
                await asyncio.sleep(30)  # let the last arrivals be polled (or not)
        finally:
            await exporter_runner.cleanup()
            await sim_runner.cleanup()
    first_polls: dict[str, float] = {}
    for call in simulator.calls:
        message_id = call.path.rsplit("/", 1)[-1]
        if message_id in registered:
            first_polls.setdefault(message_id, call.arrived)
    delays = sorted(first_polls[m] - registered[m] for m in first_polls)
    never = len(registered) - len(delays)
    quantiles = statistics.quantiles(delays, n=100) if len(delays) > 1 else [float("nan")] * 99
    return {
        "arrivals": len(registered),
        "never_polled": never,
        "first_poll_delay_p50": round(quantiles[49], 2),
        # With messages never polled, the percentiles of those that were say too little.
        "first_poll_delay_p99": round(quantiles[98], 2) if not never else None,
        "first_poll_delay_max": round(delays[-1], 2) if delays and not never else None,
    }

"""``sms-delivery-exporter demo``: every provider's simulator, the exporter, and a sender.

All in one event loop on loopback, with the store in a temporary directory,
so a newcomer sees live metrics within seconds and Ctrl-C leaves nothing behind.

The traffic is a healthy day's: each provider's simulator behaves as its
``DEMO_SCENARIO`` says (failure shares, latencies, rare 429s and 5xx), each
account sends at a steady rate with random (Poisson) arrivals, and each account's
``delivery_objective`` leaves about twice its normal failure share as error
budget, so that the shipped alert rules stay silent (README, "The demo").

Simulators of providers with push post their webhooks to the exporter (a few
lost, a few twice), so final statuses come by push, and by the safety-net
polls for the lost ones (``sms_messages_final_by_source_total``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
import signal
import tempfile
from collections.abc import Mapping
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

from sms_delivery_exporter.api import ProviderClass
from sms_delivery_exporter.app import create_app
from sms_delivery_exporter.config import parse_config
from sms_delivery_exporter.testing import DemoSimulator, demo_simulators
from sms_delivery_exporter.web.paths import INTAKE_PATH, PUSH_PREFIX

log = logging.getLogger(__name__)

SEND_INTERVAL = 0.5
RATES = {"namirial": 3.0, "d7": 1.5, "sfmc_mobileconnect": 1.5, "sfmc_transactional": 2.0}
"""Refs registered per second, on average, per provider's account: d7 and MobileConnect
refs are sends to one to three recipients, so each account sends 2 to 3 messages a
second, a busy sender's 200,000 a day. Other providers' simulators get DEFAULT_RATE."""
DEFAULT_RATE = 1.0
OBJECTIVES = {
    "namirial": 0.95,  # fails about 2.5%
    "d7": 0.92,  # about 3.8%: international routes fail more
    "sfmc_mobileconnect": 0.90,  # about 4.5%: stored lists hold stale numbers
    "sfmc_transactional": 0.95,  # about 1.5% refused; the API shows nothing after "sent"
}
"""Each account's ``delivery_objective``: about twice its demo failure share as error
budget, so the budget's 3-day burn-rate ticket (1x the budget) stays silent even over
the first few hundred messages, when the share is still noisy."""
SCHEDULE = {"first_poll": "1s", "initial_interval": "2s", "growth": 1.3, "max_interval": "1m"}
"""The default schedule's shape, quicker at first so outcomes show within seconds. Its
cap matters: unread RCS messages are polled for their read receipt for an hour, and a
10-second cap would need more calls than the account's rate limit within the hour."""
DEMO_SAFETY_NET = {"first_poll": "20s", "initial_interval": "20s", "max_interval": "1m"}
"""Quicker than the default, so the demo shows lost webhooks found by polls within a minute."""


async def run_demo(providers: Mapping[str, ProviderClass], host: str, port: int) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    simulators: dict[str, DemoSimulator] = {}
    rates: dict[str, float] = {}
    runners: list[web.AppRunner] = []
    accounts: dict[str, dict[str, object]] = {}
    try:
        factories = demo_simulators()
        for name in sorted(providers):
            if name not in factories:
                continue
            simulator = factories[name]()
            runner, base_url = await _start(simulator.app(), "127.0.0.1", 0)
            runners.append(runner)
            account = f"{name}-demo"
            simulators[account] = simulator
            rates[account] = RATES.get(name, DEFAULT_RATE)
            accounts[account] = {
                "provider": name,
                **simulator.account_options(base_url),
                "schedule": SCHEDULE,
                "delivery_objective": OBJECTIVES.get(name, 0.95),
            }
            push = simulator.push_options()
            if push is not None:
                accounts[account]["push"] = {**push, "safety_net": DEMO_SAFETY_NET}
                simulator.factory.scenario = simulator.factory.scenario.model_copy(
                    update={"push_loss_rate": 0.05, "push_duplicate_rate": 0.05}
                )
            print(f"simulator {name}: {base_url}", flush=True)
        with tempfile.TemporaryDirectory(prefix="sms-demo-") as workdir:
            document = {"store": {"path": str(Path(workdir) / "demo.db")}, "accounts": accounts}
            config = parse_config(yaml.safe_dump(document), providers, {})
            exporter_runner, url = await _start(create_app(config), host, port)
            runners.append(exporter_runner)
            for account, simulator in simulators.items():
                if config.accounts[account].push is not None:
                    simulator.push_to(url + PUSH_PREFIX + account)
            print(f"exporter: {url}/metrics  (landing page {url}/)", flush=True)
            print("sending messages; press Ctrl-C to stop", flush=True)
            sender = asyncio.create_task(_send(url, simulators, rates, stop))
            await stop.wait()
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            for runner in reversed(runners):
                await runner.cleanup()
            runners.clear()
    except OSError as exc:
        print(f"error: cannot start the demo: {exc.strerror or exc}", flush=True)
        return 1
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    print("demo stopped", flush=True)
    return 0


async def _start(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    sockets = getattr(server, "sockets", None) or []
    bound = sockets[0].getsockname()[1] if sockets else port
    return runner, f"http://{host}:{bound}"


async def _send(
    url: str,
    simulators: Mapping[str, DemoSimulator],
    rates: Mapping[str, float],
    stop: asyncio.Event,
) -> None:
    """Register each account's refs every half second, as its application sends them."""
    rng = random.Random()
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            lines = [
                json.dumps({"account": account, **simulator.demo_send()})
                for account, simulator in simulators.items()
                for _ in range(_arrivals(rng, rates[account] * SEND_INTERVAL))
            ]
            if lines:  # an empty body would be refused
                await _post(session, url, lines)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), SEND_INTERVAL)


async def _post(session: aiohttp.ClientSession, url: str, lines: list[str]) -> None:
    try:
        async with session.post(
            url + INTAKE_PATH,
            data="\n".join(lines),
            headers={"Content-Type": "application/x-ndjson"},
        ) as response:
            if response.status != 202:
                log.warning("demo sender refused", extra={"status": response.status})
    except aiohttp.ClientError as exc:
        log.warning("demo sender failed", extra={"error": type(exc).__name__})


def _arrivals(rng: random.Random, mean: float) -> int:
    """How many refs arrive in one interval: a Poisson draw (Knuth's method, small means)."""
    threshold, count, product = math.exp(-mean), 0, rng.random()
    while product > threshold:
        count += 1
        product *= rng.random()
    return count

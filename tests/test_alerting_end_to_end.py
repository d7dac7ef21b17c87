"""The whole pipeline: simulators, the exporter, real Prometheus with the shipped rules, real
Alertmanager, and a webhook receiver: a failure spike pages, recovery resolves, and every
dashboard query returns data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from sms_delivery_exporter.testing import DemoSimulator, demo_simulators
from tests.dashboard_lint import as_promql, targets
from tests.helpers import make_config, wait_for
from tests.processes import ExporterProcess
from tests.stack import (
    Server,
    alertmanager_binary,
    scale_durations,
    start_alertmanager,
    start_prometheus,
)

ROOT = Path(__file__).resolve().parent.parent
SCALE = 1 / 30
"""Rule windows shrink 30-fold: 10m becomes 20s, `for: 5m` becomes 10s."""
SAFETY_NET = {"first_poll": "1s", "initial_interval": "1s", "growth": 1.0, "max_interval": "2s"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or alertmanager_binary() is None,
        reason="needs Debian's prometheus and prometheus-alertmanager (make test installs them)",
    ),
]


class Webhook:
    """Collects what Alertmanager posts."""

    def __init__(self) -> None:
        self.notifications: list[dict[str, Any]] = []

    async def receive(self, request: web.Request) -> web.Response:
        self.notifications.append(await request.json())
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/alerts", self.receive)
        return app

    def alerts(self, name: str, status: str) -> list[dict[str, Any]]:
        return [
            alert
            for notification in self.notifications
            for alert in notification["alerts"]
            if alert["labels"].get("alertname") == name and alert["status"] == status
        ]


@contextlib.asynccontextmanager
async def sending(url: str, simulators: dict[str, DemoSimulator]) -> AsyncIterator[None]:
    """Register messages continuously, as an application would, until the block ends."""

    async def loop() -> None:
        async with aiohttp.ClientSession() as session:
            while True:
                body = [
                    {"account": account, **simulator.demo_send()}
                    for account, simulator in simulators.items()
                    for _ in range(8 if account == "namirial" else 3)
                ]
                async with session.post(f"{url}/api/v1/messages", json=body) as response:
                    assert response.status == 202
                await asyncio.sleep(0.25)  # the sender's pace, not a wait for state

    task = asyncio.create_task(loop())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_spike_pages_and_recovery_resolves(tmp_path: Path, serve: Callable[..., Any]) -> None:
    normal = {
        "delivered": 0.97,
        "undelivered": 0.02,
        "rejected": 0.01,
        "latency_median": 0.5,
        "latency_sigma": 0.4,
        "throttle_rate": 0.0,
        "error_rate": 0.0,
    }
    simulators: dict[str, DemoSimulator] = {}
    accounts = {}
    for name in ("namirial", "d7"):
        simulator = demo_simulators()[name]()
        simulator.factory.scenario = simulator.factory.scenario.model_copy(update=normal)
        url = await serve(simulator.app())
        block = {"provider": name, **simulator.account_options(url)}
        block["schedule"] = {
            "first_poll": "200ms",
            "initial_interval": "200ms",
            "max_interval": "1s",
        }
        # Both post their webhooks too (the dashboards' webhook panels need data); a few
        # are lost, and the safety net finds those.
        block["push"] = {**(simulator.push_options() or {}), "safety_net": SAFETY_NET}
        simulator.factory.scenario = simulator.factory.scenario.model_copy(
            update={"push_loss_rate": 0.1}
        )
        accounts[name] = block
        simulators[name] = simulator
    webhook = Webhook()
    webhook_url = await serve(webhook.app())
    _, config_text = make_config(tmp_path, accounts)
    exporter = ExporterProcess(config_text, tmp_path)
    for name, simulator in simulators.items():
        simulator.push_to(f"{exporter.url}/api/v1/push/{name}")
    servers: list[Server] = []
    try:
        exporter.start()
        async with aiohttp.ClientSession() as session:
            await exporter.ready(session)
            alertmanager = start_alertmanager(tmp_path, f"{webhook_url}/alerts")
            servers.append(alertmanager)
            rules = scale_durations(
                (ROOT / "prometheus/rules/sms-delivery.rules.yml").read_text(), SCALE
            )
            prometheus = start_prometheus(
                tmp_path,
                target=f"127.0.0.1:{exporter.port}",
                alertmanager=f"127.0.0.1:{alertmanager.port}",
                rules=rules,
            )
            servers.append(prometheus)

            async def query(expr: str) -> list[Any]:
                async with session.get(
                    f"{prometheus.url}/api/v1/query", params={"query": expr}
                ) as response:
                    body = await response.json()
                assert body["status"] == "success", (expr, body)
                result: list[Any] = body["data"]["result"]
                return result

            async def scraping() -> bool:
                try:
                    return bool(await query('up{job="sms-delivery-exporter"} == 1'))
                except aiohttp.ClientError:
                    return False

            await wait_for(
                scraping, timeout=60, interval=0.5, what="Prometheus scraping the exporter"
            )
            async with sending(exporter.url, simulators):
                # Normal traffic: enough volume for the alert to be armed, and it stays silent.
                volume = 'job_provider_account:sms_messages_final:increase10m{provider="namirial"}'
                await wait_for(
                    lambda: query(f"{volume} >= 40"),
                    timeout=60,
                    interval=0.5,
                    what="normal traffic at volume",
                )
                await wait_for(
                    lambda: query(f"count_over_time({volume}[15s]) >= 12"),
                    timeout=60,
                    interval=0.5,
                    what="a full alert period of normal traffic",
                )
                assert webhook.alerts("SMSUndeliveredSpike", "firing") == []

                # A failure spike on namirial pages, with the right labels.
                spike = simulators["namirial"].factory.scenario.model_copy(
                    update={"delivered": 0.3, "undelivered": 0.6, "rejected": 0.1}
                )
                async with session.put(
                    f"{accounts['namirial']['base_url']}/_sim/scenario", json=spike.model_dump()
                ) as r:
                    assert r.status == 200
                firing = await wait_for(
                    lambda: webhook.alerts("SMSUndeliveredSpike", "firing"),
                    timeout=120,
                    interval=0.5,
                    what="SMSUndeliveredSpike at the webhook",
                )
                labels = firing[0]["labels"]
                assert labels["provider"] == "namirial" and labels["account"] == "namirial"
                assert labels["severity"] == "critical" and labels["job"] == "sms-delivery-exporter"
                assert "failed" in firing[0]["annotations"]["description"]
                assert not [
                    a
                    for a in webhook.alerts("SMSUndeliveredSpike", "firing")
                    if a["labels"]["provider"] == "d7"
                ]

                # Every dashboard panel's query returns data from this Prometheus.
                empty = []
                for path in sorted((ROOT / "grafana/dashboards").glob("*.json")):
                    for panel, target in targets(json.loads(path.read_text())):
                        expr = as_promql(target["expr"], rate_interval="10s", range_="2m")
                        if not await query(expr):
                            empty.append(f"{path.name}: {panel['title']} {target['refId']}")
                assert empty == []

                # Recovery resolves the alert.
                recovered = simulators["namirial"].factory.scenario.model_copy(update=normal)
                async with session.put(
                    f"{accounts['namirial']['base_url']}/_sim/scenario", json=recovered.model_dump()
                ) as response:
                    assert response.status == 200
                await wait_for(
                    lambda: webhook.alerts("SMSUndeliveredSpike", "resolved"),
                    timeout=150,
                    interval=0.5,
                    what="SMSUndeliveredSpike resolved at the webhook",
                )
    except AssertionError:
        for server in servers:
            print(f"--- {server.name}\n{server.log()}")
        print(f"--- exporter\n{exporter.log()}")
        raise
    finally:
        for server in reversed(servers):
            server.stop()
        exporter.stop()

"""The world of the end-to-end alerting test, running for a whole test module.

Simulators, the webhook receivers and the sender run in an event loop of their own, in a
thread, so that they keep answering while a test waits, between tests, and while a test
starts or stops a process. Two exporter processes (instances "a" and "b"), Alertmanager
with the shipped config, and Prometheus with the shipped rules scaled run beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

from monitoring.rules import render
from monitoring.settings import Settings
from sms_delivery_exporter.testing import DemoSimulator, Scenario, demo_simulators
from sms_delivery_providers.namirial.simulator import NamirialSimulator
from tests.alerting_cases import CASES, RECEIVERS, SAFETY_NET, SCALE, Case
from tests.helpers import make_config, wait_for
from tests.processes import ExporterProcess
from tests.stack import (
    JOB,
    Prometheus,
    Server,
    shipped_alertmanager_config,
    start_alertmanager,
    start_prometheus,
)

T = TypeVar("T")
EVALUATED = 'job_provider_account:sms_delivery_objective:ratio{account="control-namirial"}'
"""A recording rule's series: it exists once Prometheus evaluates the rules."""
TICK = 0.25
"""Seconds between two batches of the sender."""
WARM_UP = 10
"""Seconds Prometheus scrapes before it evaluates the rules. Scaled, a window holds 60
times fewer messages than in production; a window still mostly empty after a start
would hold a handful, which no rule is meant to judge (in production the first 10
seconds after a restart hold hundreds)."""
SHORT_LEAD_IN = 10
"""Seconds of healthy traffic, once the rules are evaluated, before the faults of the
early cases."""
LEAD_IN = 30
"""The same before the other faults: longer than the window plus `for` of every alert
but the stuck one (30 + 15 seconds scaled) and the slow burn rates."""


@dataclass(frozen=True)
class Notification:
    """One alert of a notification Alertmanager posted."""

    receiver: str
    path: str
    status: str
    labels: dict[str, str]
    annotations: dict[str, str]
    at: float


class Webhooks:
    """The pager and the ticket system: what Alertmanager posts to each."""

    def __init__(self) -> None:
        self.received: list[Notification] = []

    async def _receive(self, request: web.Request) -> web.Response:
        payload = await request.json()
        self.received.extend(
            Notification(
                payload["receiver"],
                request.path.strip("/"),
                alert["status"],
                alert["labels"],
                alert["annotations"],
                time.time(),
            )
            for alert in payload["alerts"]
        )
        return web.Response(text="ok")

    def app(self) -> web.Application:
        app = web.Application()
        for receiver in RECEIVERS.values():
            app.router.add_post(f"/{receiver}", self._receive)
        return app

    def find(self, alertname: str, status: str = "firing", **labels: str) -> list[Notification]:
        return [
            n
            for n in list(self.received)  # a copy: the loop thread appends
            if n.labels.get("alertname") == alertname
            and n.status == status
            and all(n.labels.get(k) == v for k, v in labels.items())
        ]


class LoopThread:
    """An event loop running in a thread of its own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 120) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def call(self, function: Callable[[], T]) -> T:
        """Run ``function`` in the loop, between two of its callbacks, and return its result."""

        async def call() -> T:
            return function()

        return self.run(call())

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class World:
    """Everything the alerting tests observe, started once per module."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.thread = LoopThread()
        self.webhooks = Webhooks()
        self.simulators: dict[str, DemoSimulator] = {}
        self.demo_scenarios: dict[str, Scenario] = {}
        """Each account's provider's demo scenario, which its cases change."""
        self.urls: dict[str, str] = {}
        self.rates: dict[str, float] = {}
        self.runners: list[web.AppRunner] = []
        self.exporters: dict[str, ExporterProcess] = {}
        self.servers: list[Server] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.lead_in_alerts: dict[str, list[dict[str, Any]]] = {}
        """ALERTS series (pending or firing) seen during each lead-in, by lead-in."""
        self.faults_began: dict[str, float] = {}
        self.evaluated_since = 0.0
        """When Prometheus began to evaluate the rules."""
        self.prometheus: Prometheus
        self.alertmanager: Server

    # Starting and stopping.

    def start(self) -> None:
        self.thread.start()
        self.thread.run(self._start())

    def stop(self) -> None:
        """Exporters first, while their providers still answer, as in production; nothing
        is left running, and an exporter that ignores SIGTERM fails the module."""
        hung = []
        for name, exporter in self.exporters.items():
            try:
                exporter.stop()
            except subprocess.TimeoutExpired:
                exporter.kill()
                hung.append(f"exporter {name} still running 30 s after SIGTERM:\n{exporter.log()}")
        for server in reversed(self.servers):
            server.stop()
        with contextlib.suppress(Exception):
            self.thread.run(self._stop_loop_side(), timeout=30)
        self.thread.stop()
        assert hung == []

    async def _start(self) -> None:
        factories = demo_simulators()
        for case in CASES:
            simulator = factories[case.provider]()
            self.demo_scenarios[case.account] = simulator.factory.scenario
            simulator.factory.scenario = case.scenario(simulator.factory.scenario, faulty=False)
            self.simulators[case.account] = simulator
            self.urls[case.account] = await self._serve(simulator.app())
            self.rates[case.account] = case.rate
        webhooks = await self._serve(self.webhooks.app())
        for case in CASES:
            discovery = case.block().get("discovery")
            simulator = self.simulators[case.account]
            if discovery and isinstance(simulator, NamirialSimulator):
                simulator.demo_reference = discovery["references"][0]
        for instance in ("a", "b"):
            accounts = {
                case.account: self._account(case) for case in CASES if instance in case.instances
            }
            workdir = self.workdir / instance
            workdir.mkdir()
            _, text = make_config(workdir, accounts)
            exporter = self.exporters[instance] = ExporterProcess(text, workdir)
            for case in CASES:
                if case.push and instance in case.instances:
                    push_url = f"{exporter.url}/api/v1/push/{case.account}"
                    self.simulators[case.account].push_to(push_url)
            exporter.start()
        receivers = {name: f"{webhooks}/{name}" for name in RECEIVERS.values()}
        self.alertmanager = start_alertmanager(
            self.workdir, "", config_text=shipped_alertmanager_config(receivers, SCALE)
        )
        self.servers.append(self.alertmanager)
        async with aiohttp.ClientSession() as session:
            for exporter in self.exporters.values():
                await exporter.ready(session)
        self.prometheus = start_prometheus(
            self.workdir,
            targets=[self.instance(name) for name in self.exporters],
            alertmanager=f"127.0.0.1:{self.alertmanager.port}",
            rules=self.rules(),
            evaluate=False,
        )
        self.servers.append(self.prometheus)
        self.tasks.append(asyncio.create_task(self._send()))

    def _account(self, case: Case) -> dict[str, Any]:
        simulator = self.simulators[case.account]
        block = {
            "provider": case.provider,
            **simulator.account_options(self.urls[case.account]),
            **case.block(),
        }
        if case.push:
            block["push"] = {**(simulator.push_options() or {}), "safety_net": SAFETY_NET}
        if "canary" in block:  # its canary sends to its simulator
            block["canary"] = {**block["canary"], "send_url": self.urls[case.account]}
        return block

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.runners.append(runner)
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    async def _stop_loop_side(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for runner in reversed(self.runners):
            await runner.cleanup()

    @staticmethod
    def rules() -> str:
        return render(Settings(scale=SCALE))

    def instance(self, name: str) -> str:
        """The ``instance`` label of exporter ``name`` ("a" or "b")."""
        return f"127.0.0.1:{self.exporters[name].port}"

    # Traffic.

    async def _send(self) -> None:
        """Register each account's refs at its rate, as its application would, in batches."""
        owed = dict.fromkeys(((c.account, i) for c in CASES for i in c.instances), 0.0)
        last = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while True:
                # By the time passed, not the ticks: a loaded machine makes a tick longer,
                # and the rates must hold for the volume the alerts need.
                now = time.monotonic()
                elapsed, last = now - last, now
                batches: dict[str, list[dict[str, str]]] = {name: [] for name in self.exporters}
                for account, instance in owed:
                    owed[account, instance] += self.rates[account] * elapsed
                    count = int(owed[account, instance])
                    owed[account, instance] -= count
                    simulator = self.simulators[account]
                    batches[instance] += [
                        {"account": account, **simulator.demo_send()} for _ in range(count)
                    ]
                for instance, items in batches.items():
                    if items:
                        await self._post(session, instance, items)
                await asyncio.sleep(TICK)  # the senders' pace, not a wait for state

    async def _post(
        self, session: aiohttp.ClientSession, instance: str, items: list[dict[str, str]]
    ) -> None:
        exporter = self.exporters[instance]
        if exporter.process is None or exporter.process.poll() is not None:
            return  # a stopped instance: its application's requests fail, as they would
        with contextlib.suppress(aiohttp.ClientError):
            async with session.post(f"{exporter.url}/api/v1/messages", json=items) as response:
                assert response.status == 202, await response.text()

    # The timeline: lead-ins, then faults.

    async def lead_in_and_faults(self) -> None:
        """Healthy traffic, checked silent; then each faulty case's fault begins."""
        async with aiohttp.ClientSession() as session:
            up = f'count_over_time(up{{job="{JOB}"}}[{WARM_UP + 1}s]) >= {WARM_UP}'
            await self._lasted(session, up, WARM_UP, "scrapes", each=len(self.exporters))
            self.prometheus.reload([self.instance(name) for name in self.exporters])
            await self._lasted(session, EVALUATED, 0, "the rules evaluated")
            self.evaluated_since = time.time()
            early = [case for case in CASES if case.faulty and case.early]
            await self._lead_in(session, "short", SHORT_LEAD_IN, early)
            later = [case for case in CASES if case.faulty and not case.early]
            await self._lead_in(session, "long", LEAD_IN, later)

    async def _lasted(
        self,
        session: aiohttp.ClientSession,
        query: str,
        seconds: int,
        what: str,
        each: int = 1,
    ) -> None:
        """Wait until ``query`` (which counts ``seconds`` of ``what``) has ``each`` results."""

        async def lasted() -> bool:
            with contextlib.suppress(aiohttp.ClientError):
                return len(await self.prometheus.query(session, query)) == each
            return False

        await wait_for(lasted, timeout=seconds + 60, interval=0.5, what=f"{seconds}s of {what}")

    async def _lead_in(
        self, session: aiohttp.ClientSession, name: str, seconds: int, cases: list[Case]
    ) -> None:
        evaluations = f"count_over_time({EVALUATED}[{seconds + 1}s]) >= {seconds}"
        await self._lasted(session, evaluations, seconds, "evaluations")
        # Every alert that was pending or firing at any evaluation so far; accounts
        # whose faults already began are left out.
        window = max(1, int(time.time() - self.evaluated_since) + 1)
        begun = "|".join(self.faults_began) or "none"
        self.lead_in_alerts[name] = await self.prometheus.query(
            session, f'count_over_time(ALERTS{{account!~"{begun}"}}[{window}s])'
        )
        for case in cases:
            self.begin_fault(case)

    def begin_fault(self, case: Case) -> None:
        """Runs in the loop: the case's fault begins now."""
        simulator = self.simulators[case.account]
        if case.fault is not None:
            demo = self.demo_scenarios[case.account]
            simulator.factory.scenario = case.scenario(demo, faulty=True)
        if case.act is not None:
            case.act(simulator)
        if case.fault_rate is not None:
            self.rates[case.account] = case.fault_rate
        self.faults_began[case.account] = time.time()

    def end_fault(self, case: Case) -> None:
        """The case's provider behaves normally again (for new messages)."""
        demo = self.demo_scenarios[case.account]

        def recover() -> None:
            self.simulators[case.account].factory.scenario = case.scenario(demo, faulty=False)

        self.thread.call(recover)

    # What a test asks.

    def run(self, step: Callable[[], Awaitable[T]], timeout: float = 120) -> T:
        async def run() -> T:
            return await step()

        return self.thread.run(run(), timeout)

    def logs(self) -> str:
        parts = [f"--- {server.name}\n{server.log()}" for server in self.servers]
        parts += [f"--- exporter {n}\n{e.log()}" for n, e in self.exporters.items()]
        return "\n".join(parts)

"""The composition root: one running exporter and everything it holds.

Built from a validated config and an injected registry; started and stopped
by the web app's cleanup context, so tests run as many as they like side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric
from prometheus_client.registry import Collector

from sms_delivery_exporter import __version__
from sms_delivery_exporter.config import Account, Config
from sms_delivery_exporter.errors import AuthFailed, BadResponse, RefInvalid, RefNotFound, Throttled
from sms_delivery_exporter.http import ProviderHttp
from sms_delivery_exporter.intake import Intake
from sms_delivery_exporter.ledger import Ledger
from sms_delivery_exporter.metrics import AccountSnapshot, ExporterMetrics, StateCollector
from sms_delivery_exporter.outcomes import TRACKED
from sms_delivery_exporter.provider import AnyProvider
from sms_delivery_exporter.ratelimit import RateLimiter
from sms_delivery_exporter.scheduler import AccountPoller
from sms_delivery_exporter.store import Store
from sms_delivery_exporter.tracking import AccountRules, Tracker
from sms_delivery_exporter.writer import Writer

log = logging.getLogger(__name__)

ERROR_KINDS = (
    Throttled.kind,
    AuthFailed.kind,
    BadResponse.kind,
    RefNotFound.kind,
    RefInvalid.kind,
    "timeout",
    "connection",
    "transient",
)
PRUNE_EVERY = 600.0


class _Joined(Collector):
    """One registry's collectors and one more collector, as a single collector."""

    def __init__(self, registry: CollectorRegistry, extra: Collector) -> None:
        self._registry = registry
        self._extra = extra

    def collect(self) -> Iterator[Metric]:
        yield from self._registry.collect()
        yield from self._extra.collect()


class Exporter:
    """Store, ledger, metrics, intake and one poller per account."""

    def __init__(
        self,
        config: Config,
        *,
        registry: CollectorRegistry | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.registry = registry if registry is not None else CollectorRegistry()
        """Every metric: OpenMetrics scrapes and tests read this."""
        self.operational = CollectorRegistry()
        """All but the outcome series, which /metrics renders itself in the text format."""
        self.clock = clock
        self.ledger = Ledger(config.intake.labels.keys)
        self.metrics = ExporterMetrics(self.operational, __version__)
        self.state = StateCollector()
        self.operational.register(self.state)
        self.registry.register(_Joined(self.operational, self.ledger))
        self.store = Store(config.store.path, synchronous=config.store.synchronous)
        self.writer = Writer(self.store, self.ledger)
        self.pollers: dict[str, AccountPoller] = {}
        self.intake = Intake(
            store=self.store,
            ledger=self.ledger,
            metrics=self.metrics,
            accounts=config.accounts,
            labels=config.intake.labels,
            wake=self._wake,
            clock=clock,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._providers: list[AnyProvider] = []
        self.ready = False

    def _wake(self, account: str) -> None:
        poller = self.pollers.get(account)
        if poller is not None:
            poller.wake()

    async def start(self, session: aiohttp.ClientSession) -> None:
        """Open the store, restore the counters, start polling every account."""
        await self.store.run(self.store.open)
        self.ledger.load(await self.store.run(self.store.series))
        self.intake.load_label_values(await self.store.run(self.store.label_values))
        self._zero_known_series()
        for account in self.config.accounts.values():
            self.pollers[account.name] = self._poller(account, session)
        self._tasks.append(asyncio.create_task(self.writer.run(), name="writer"))
        for name, poller in self.pollers.items():
            self._tasks.append(asyncio.create_task(self._keep_polling(poller), name=f"poll {name}"))
        self._tasks.append(asyncio.create_task(self._prune(), name="prune"))
        self.ready = True
        log.info("exporter started", extra={"accounts": len(self.pollers), "version": __version__})

    def _poller(self, account: Account, session: aiohttp.ClientSession) -> AccountPoller:
        provider_class = account.provider
        settings = account.settings
        labels = (provider_class.name, account.name)
        self.metrics.start_account(*labels, ERROR_KINDS)
        requests = self.metrics.requests
        durations = self.metrics.request_duration.labels(*labels)

        by_code: dict[str, Any] = {}

        def observe(code: str, seconds: float) -> None:
            # Children are looked up once per code: this runs for every API call.
            counter = by_code.get(code)
            if counter is None:
                counter = by_code[code] = requests.labels(*labels, code)
            counter.inc()
            durations.observe(seconds)

        http = ProviderHttp(
            session,
            limiter=RateLimiter(settings.rate_limit, burst=settings.burst),
            timeout=settings.timeout,
            observe=observe,
        )
        provider: AnyProvider = provider_class(settings, http)
        self._providers.append(provider)
        rules = AccountRules(
            provider=provider_class.name,
            account=account.name,
            schedule=settings.schedule,
            reasons=provider_class.reasons,
            channels=provider_class.channels,
            read_channels=provider_class.read_channels,
            application_labels=self.config.intake.labels.keys,
            final_statuses=provider_class.final_statuses,
        )
        snapshot = AccountSnapshot(provider_class.name, account.name)
        self.state.snapshots[account.name] = snapshot
        return AccountPoller(
            provider=provider,
            tracker=Tracker(rules),
            store=self.store,
            writer=self.writer,
            metrics=self.metrics,
            snapshot=snapshot,
            clock=self.clock,
        )

    def _zero_known_series(self) -> None:
        """Zero every known combination: each account, and each label set seen before a restart."""
        empty = tuple("" for _ in self.config.intake.labels.keys)
        for account in self.config.accounts.values():
            self.intake.zero_label_set(account, empty)
        names = self.ledger.label_names(TRACKED)
        for labels in list(self.ledger.series_labels(TRACKED)):
            known = self.config.accounts.get(labels[names.index("account")])
            if known is not None:
                self.intake.zero_label_set(known, labels[2:])

    async def _keep_polling(self, poller: AccountPoller) -> None:
        """A poller that dies is logged and restarted: one account never stops the others."""
        while True:
            try:
                await poller.run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception(
                    "account poller crashed; restarting", extra={"account": poller.account}
                )
                await asyncio.sleep(1.0)

    async def _prune(self) -> None:
        retention = self.config.store.retention
        while True:
            await asyncio.sleep(PRUNE_EVERY)
            try:
                removed = await self.store.run(partial(self.store.prune, self.clock() - retention))
            except Exception:
                log.exception("pruning finished refs failed")
                continue
            if removed:
                log.info("pruned finished refs", extra={"count": removed})

    async def refresh_state(self) -> None:
        """Fresh scrape-time gauges: indexed MIN queries, one pair per account."""
        if not self.store.is_open:
            return

        def read() -> dict[str, tuple[float | None, float | None]]:
            return {
                name: (self.store.next_poll_at(name), self.store.oldest_open_submitted_at(name))
                for name in self.pollers
            }

        for name, (due, oldest) in (await self.store.run(read)).items():
            snapshot = self.state.snapshots[name]
            snapshot.next_poll_at = due
            snapshot.oldest_open_submitted_at = oldest

    async def stop(self) -> None:
        """Stop polling, commit what was polled, close. Unfinished polls are simply redone later."""
        self.ready = False
        writer_task = self._tasks[0] if self._tasks else None
        for task in self._tasks[1:]:
            task.cancel()
        await asyncio.gather(*self._tasks[1:], return_exceptions=True)
        if writer_task is not None:
            writer_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer_task
        for provider in self._providers:
            with contextlib.suppress(Exception):
                await provider.close()
        if self.store.is_open:
            await self.store.run(self.store.close_db)
        self.store.shutdown()
        log.info("exporter stopped")

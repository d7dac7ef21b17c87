"""The composition root: one exporter as an aiohttp application, built from a validated config.

:func:`create_app` makes every part and wires them; each resource is opened
and closed by a cleanup context of its own, in this order (closed in reverse):
the store (and the book and label budget it restores), its watch, the
leadership of the shared series (a shared store only), the HTTP session, the
writer, the pollers, the webhooks' inbox and applier, the pruner. So stopping
stops applying webhooks and polling first, then commits what was polled, then
closes the store. The CLI, the demo and the tests all
run exactly this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, PlatformCollector, ProcessCollector

from sms_delivery_exporter import __version__
from sms_delivery_exporter.api import GENERIC_SEND_ERRORS, ProviderHttp
from sms_delivery_exporter.api.http import AttemptCountingRequest
from sms_delivery_exporter.canary import AccountCanary
from sms_delivery_exporter.config import Account, Config
from sms_delivery_exporter.discovery import AccountDiscovery
from sms_delivery_exporter.intake.registrar import Intake, intake_counter
from sms_delivery_exporter.metrics import (
    AccountHealth,
    BuildInfoCollector,
    CanaryCollector,
    CanaryStats,
    CountersCollector,
    DiscoveryCollector,
    DiscoveryHealth,
    Exposition,
    HealthCollector,
    PushCollector,
    SelfCollector,
    SelfStats,
    StoreHealthCollector,
    build_info,
)
from sms_delivery_exporter.outcomes import Catalogue, OutcomeBook, OutcomeRenderer
from sms_delivery_exporter.polling import (
    AccountPoller,
    RateLimiter,
    Writer,
    build_poller,
    prune_forever,
)
from sms_delivery_exporter.push.applier import Applying, PushApplier
from sms_delivery_exporter.push.handshake import Handshakes
from sms_delivery_exporter.push.inbox import Inbox
from sms_delivery_exporter.push.pruner import prune_events_forever
from sms_delivery_exporter.push.receiving import PushHost
from sms_delivery_exporter.store import Leadership, Store, StoreError, leading, store_for, watching
from sms_delivery_exporter.web.keys import (
    CONFIG,
    EXPOSITION,
    INTAKE,
    PUSH,
    READINESS,
    REFRESH,
    Readiness,
)
from sms_delivery_exporter.web.routes import add_routes, client_max_size

log = logging.getLogger(__name__)

Clock = Callable[[], float]


@dataclass
class Parts:
    """What one exporter is made of; tests reach it through :data:`PARTS`."""

    config: Config
    store: Store
    book: OutcomeBook
    writer: Writer
    intake: Intake
    exposition: Exposition
    readiness: Readiness
    clock: Clock
    healths: dict[str, AccountHealth]
    stats: SelfStats
    push: PushHost
    leadership: Leadership
    pollers: dict[str, AccountPoller] = field(default_factory=dict)
    discovery: dict[str, DiscoveryHealth] = field(default_factory=dict)
    canaries: dict[str, CanaryStats] = field(default_factory=dict)


PARTS = web.AppKey("parts", Parts)


def create_app(config: Config, *, clock: Clock = time.time) -> web.Application:
    """The exporter; starting the application opens the store and starts polling."""
    store = store_for(config.store)
    # Replicas sharing a store serve its series from one of them, the leader.
    leadership = Leadership(store, config.store.lease)
    book = OutcomeBook(Catalogue(config.intake.labels.keys), shared=leadership.shared)
    pollers: dict[str, AccountPoller] = {}
    counts = intake_counter()
    intake = Intake(
        store=store,
        book=book,
        accounts=config.accounts,
        labels=config.intake.labels,
        counts=counts,
        wake=lambda account: _wake(pollers, account),
        clock=clock,
    )
    healths = {
        name: AccountHealth(
            account.provider.name, name, delivery_objective=account.settings.delivery_objective
        )
        for name, account in config.accounts.items()
    }
    discovery = {
        name: DiscoveryHealth(account.provider.name, name)
        for name, account in config.accounts.items()
        if account.discovery is not None
    }
    canaries = {
        name: _canary_stats(account)
        for name, account in config.accounts.items()
        if account.canary_on
    }
    stats = SelfStats()
    push = PushHost(
        accounts=config.accounts,
        inbox=Inbox(store),
        applier=PushApplier(store=store, book=book, clock=clock),
        handshakes=Handshakes(config.store.path.resolve().parent),
        clock=clock,
    )
    registry = CollectorRegistry()
    registry.register(DiscoveryCollector(discovery))
    registry.register(CanaryCollector(canaries))
    registry.register(HealthCollector(healths, clock, serves_shared=lambda: leadership.leading))
    registry.register(CountersCollector(counts))
    registry.register(PushCollector(push.healths))
    registry.register(BuildInfoCollector(build_info(__version__)))
    registry.register(SelfCollector(stats))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    registry.register(StoreHealthCollector(store, leading=lambda: leadership.leading))
    parts = Parts(
        config=config,
        store=store,
        book=book,
        writer=Writer(store, book),
        intake=intake,
        exposition=Exposition(
            registry, OutcomeRenderer(book), stats, serves_outcomes=lambda: leadership.leading
        ),
        readiness=Readiness(store),
        clock=clock,
        healths=healths,
        stats=stats,
        push=push,
        leadership=leadership,
        pollers=pollers,
        discovery=discovery,
        canaries=canaries,
    )
    app = web.Application(client_max_size=client_max_size(config))
    app[PARTS] = parts
    app[CONFIG] = config
    app[INTAKE] = intake
    app[EXPOSITION] = parts.exposition
    app[READINESS] = parts.readiness
    app[PUSH] = push
    app[REFRESH] = lambda: _refresh(parts)
    app.cleanup_ctx.extend(
        [
            _store,
            _store_watch,
            _leadership,
            _http_session,
            _writer,
            _polling,
            _webhooks,
            _discovering,
            _pruning,
        ]
    )
    add_routes(app, config)
    return app


def _wake(pollers: dict[str, AccountPoller], account: str) -> None:
    poller = pollers.get(account)
    if poller is not None:
        poller.wake()


async def _refresh(parts: Parts) -> None:
    """Scrape-time gauges from the store, while it is open; with a shared store, the
    leader's shared series too (the others serve none of them)."""
    if not parts.store.is_open:
        return
    if not parts.leadership.leading:
        parts.stats.store_bytes = None
        return
    if parts.leadership.shared:
        try:
            parts.book.replace(await parts.store.series())
        except StoreError:
            return  # the last totals read, until the leadership runs out
    parts.stats.store_bytes = await parts.store.size_bytes()
    for poller in list(parts.pollers.values()):
        if not parts.store.is_open:
            return
        await poller.refresh_health()


async def _store(app: web.Application) -> AsyncIterator[None]:
    parts = app[PARTS]
    await parts.store.open()
    try:
        parts.book.load(await parts.store.series())
        parts.intake.start(await parts.store.label_values())
        yield
    finally:
        await parts.store.close()


async def _store_watch(app: web.Application) -> AsyncIterator[None]:
    store, config = app[PARTS].store, app[PARTS].config.store
    interval, integrity = config.check_interval, config.integrity_check_interval
    async with watching(store, interval=interval, integrity_interval=integrity):
        yield


async def _leadership(app: web.Application) -> AsyncIterator[None]:
    async with leading(app[PARTS].leadership):
        yield


SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _http_session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector,
        headers={"User-Agent": f"sms-delivery-exporter/{__version__}"},
        request_class=AttemptCountingRequest,
    ) as session:
        app[SESSION] = session
        yield


async def _writer(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(app[PARTS].writer.run(), name="writer")
    try:
        yield
    finally:
        await _stopped([task])


async def _polling(app: web.Application) -> AsyncIterator[None]:
    parts = app[PARTS]
    for name, account in parts.config.accounts.items():
        parts.pollers[name] = build_poller(
            account,
            health=parts.healths[name],
            session=app[SESSION],
            store=parts.store,
            writer=parts.writer,
            application_labels=parts.config.intake.labels.keys,
            clock=parts.clock,
        )
    tasks = [
        asyncio.create_task(
            _keep_running(poller.run, "account poller", {"account": name}), name=f"poll {name}"
        )
        for name, poller in parts.pollers.items()
    ]
    parts.readiness.polling = True
    log.info("exporter started", extra={"accounts": len(tasks), "version": __version__})
    try:
        yield
    finally:
        parts.readiness.polling = False
        await _stopped(tasks)
        for poller in parts.pollers.values():
            with contextlib.suppress(Exception):
                await poller.provider.close()
        log.info("exporter stopped")


async def _stopped(tasks: Sequence[asyncio.Task[Any]]) -> None:
    """Cancel the tasks of a cleanup context and wait for them; one that had failed is
    logged (by the exception's class: its text may hold what a provider sent)."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    for task, result in zip(tasks, results, strict=True):
        if isinstance(result, Exception):
            log.error(
                "task failed", extra={"task": task.get_name(), "error": type(result).__name__}
            )


async def _keep_running(
    run: Callable[[], Awaitable[None]], what: str, extra: dict[str, str] | None = None
) -> None:
    """A task that dies of a bug is logged and restarted: one account never stops the others,
    and webhooks are never left unanswered or unapplied."""
    while True:
        try:
            await run()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception(f"{what} crashed; restarting", extra=extra or {})
            await asyncio.sleep(1.0)


def _canary_stats(account: Account) -> CanaryStats:
    capability = account.provider.canary
    reasons = capability.reasons if capability is not None else frozenset()
    assert account.canary is not None
    return CanaryStats(
        account.provider.name,
        account.name,
        tuple(sorted(reasons | GENERIC_SEND_ERRORS)),
        account.canary.deadline,
    )


async def _discovering(app: web.Application) -> AsyncIterator[None]:
    """Each account's discovery and canary, beside its poller (stopped before it)."""
    parts = app[PARTS]
    loops: list[tuple[str, Callable[[], Any]]] = []
    for name, account in parts.config.accounts.items():
        poller = parts.pollers[name]
        discovery = _account_discovery(parts, account, poller)
        if discovery is not None:
            loops.append((f"discover {name}", discovery.run))
        canary = _account_canary(parts, account, poller, app[SESSION])
        if canary is not None:
            loops.append((f"canary {name}", canary.run))
    tasks = [asyncio.create_task(_keep_running(run, name), name=name) for name, run in loops]
    try:
        yield
    finally:
        await _stopped(tasks)


async def _webhooks(app: web.Application) -> AsyncIterator[None]:
    """The inbox that keeps webhook events before their answer, and the applier that applies
    them (also those a stop or a crash left unapplied) to refs the pollers keep off meanwhile."""
    parts = app[PARTS]
    push = parts.push
    healths = push.healths
    for name, poller in parts.pollers.items():
        applying = Applying(
            parts.config.accounts[name], poller.tracker, poller.reservations, healths.get(name)
        )
        push.applier.attach(name, applying)
    tasks = [
        asyncio.create_task(_keep_running(push.inbox.run, "webhook inbox"), name="inbox"),
        asyncio.create_task(_keep_running(push.applier.run, "webhook applier"), name="applier"),
        asyncio.create_task(
            _keep_running(
                lambda: prune_events_forever(parts.store, parts.config.accounts, parts.clock),
                "webhook pruner",
            ),
            name="webhook pruner",
        ),
    ]
    try:
        yield
    finally:
        await _stopped(tasks)


def _account_discovery(
    parts: Parts, account: Account, poller: AccountPoller
) -> AccountDiscovery | None:
    capability = account.provider.discovery
    if capability is None or account.discovery is None:
        return None
    return AccountDiscovery(
        account=account,
        settings=account.discovery,
        discoverer=capability(account.settings, account.discovery, poller.provider.http),
        tracker=poller.tracker,
        governor=poller.governor,
        store=parts.store,
        book=parts.book,
        health=parts.discovery[account.name],
        wake=poller.wake,
        leading=lambda: parts.leadership.leading,
        clock=parts.clock,
    )


def _account_canary(
    parts: Parts, account: Account, poller: AccountPoller, session: aiohttp.ClientSession
) -> AccountCanary | None:
    capability = account.provider.canary
    if capability is None or account.canary is None or not account.canary.enabled:
        return None
    # Sends have an HTTP client of their own: a refused send is not a failing status API.
    http = ProviderHttp(
        session,
        limiter=RateLimiter(1.0, burst=1),
        timeout=account.settings.timeout,
        observe=lambda code, seconds: None,
    )
    return AccountCanary(
        account=account.name,
        settings=account.canary,
        canary=capability(account.settings, account.canary, http),
        provider=poller.provider,
        stats=parts.canaries[account.name],
        store=parts.store,
        leading=lambda: parts.leadership.leading,
        clock=parts.clock,
    )


async def _pruning(app: web.Application) -> AsyncIterator[None]:
    parts = app[PARTS]
    task = asyncio.create_task(
        prune_forever(parts.store, parts.config.store.retention, parts.clock), name="prune"
    )
    try:
        yield
    finally:
        await _stopped([task])

"""Everything one account polls with, assembled from its config."""

from __future__ import annotations

import time
from collections.abc import Callable

import aiohttp

from sms_delivery_exporter.api import AnyProvider, ProviderHttp
from sms_delivery_exporter.config import Account
from sms_delivery_exporter.metrics import AccountHealth
from sms_delivery_exporter.polling.governor import AccountGovernor
from sms_delivery_exporter.polling.poller import AccountPoller
from sms_delivery_exporter.polling.ratelimit import RateLimiter
from sms_delivery_exporter.polling.tracker import AccountRules, Tracker
from sms_delivery_exporter.polling.writer import Writer
from sms_delivery_exporter.store import Store


def account_rules(account: Account, application_labels: tuple[str, ...]) -> AccountRules:
    """What the tracker needs to know of an account and its provider."""
    provider = account.provider
    return AccountRules(
        provider=provider.name,
        account=account.name,
        schedule=account.schedule,
        reasons=account.reasons,
        channels=provider.channels,
        read_channels=provider.read_channels,
        application_labels=application_labels,
        final_statuses=account.final_statuses,
        poll_ends_at=account.poll_ends_at,
        details_by_poll=provider.reports_segments or provider.reports_cost,
        confirm_after=account.push.confirm_after if account.push is not None else 0.0,
    )


def build_poller(
    account: Account,
    *,
    health: AccountHealth,
    session: aiohttp.ClientSession,
    store: Store,
    writer: Writer,
    application_labels: tuple[str, ...],
    clock: Callable[[], float] = time.time,
) -> AccountPoller:
    """An account's poller and provider instance, reporting to the account's health object."""
    settings = account.settings
    governor = AccountGovernor(health, clock=clock)
    http = ProviderHttp(
        session,
        limiter=RateLimiter(settings.rate_limit, burst=settings.burst),
        timeout=settings.timeout,
        observe=health.observe_call,
        gate=governor,
    )
    provider: AnyProvider = account.provider(settings, http)
    return AccountPoller(
        provider=provider,
        tracker=Tracker(account_rules(account, application_labels)),
        governor=governor,
        store=store,
        writer=writer,
        clock=clock,
    )

"""``--config.check``: what the config says, in a few lines."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from sms_delivery_exporter.api import API_VERSION, ProviderClass, format_duration
from sms_delivery_exporter.config import Account, Config
from sms_delivery_exporter.web.paths import PUSH_PREFIX
from sms_delivery_exporter.web.web_config import WebConfig


def summary(
    path: Path,
    config: Config,
    providers: Mapping[str, ProviderClass],
    web_config: WebConfig | None = None,
) -> str:
    store = config.store
    database = store.database
    where = (
        f"{store.path}"
        if database is None
        else f"{database.display}, shared by replicas (lease {format_duration(store.lease)})"
    )
    lines = [
        f"{path}: OK",
        f"store: {where} (retention {format_duration(store.retention)})",
        "intake: "
        + (
            f"enabled, auth {'token' if config.intake.token else config.intake.auth}"
            if config.intake.enabled
            else "disabled"
        ),
        f"accounts ({len(config.accounts)}):",
    ]
    for name, account in sorted(config.accounts.items()):
        settings = account.settings
        lines.append(
            f"  {name}: provider {account.provider.name}, {settings.rate_limit:g} req/s, "
            f"concurrency {settings.concurrency}, tracking window "
            f"{format_duration(settings.schedule.tracking_window)}"
        )
        receiver = account.receiver
        if receiver is not None:
            lines.append(
                f"    webhooks at {PUSH_PREFIX}{name} ({receiver.credential}), safety-net polls"
                f" from {format_duration(account.schedule.first_poll)}"
            )
        lines.extend(_extras(account))
    if web_config is not None:
        users = len(web_config.basic_auth_users)
        lines.append(
            f"web: {'TLS' if web_config.tls else 'plain HTTP'}"
            + (f", basic auth ({users} user(s))" if users else ", no basic auth")
        )
    lines.append(f"known providers: {', '.join(sorted(providers))} (plugin API {API_VERSION})")
    return "\n".join(lines)


def _extras(account: Account) -> list[str]:
    """Discovery and canary lines of an account (never a phone number)."""
    lines = []
    if account.discovery is not None:
        lines.append(
            f"    discovery every {format_duration(account.discovery.interval)},"
            f" at most {account.discovery.max_pages} pages a walk"
        )
    if account.canary is not None:
        canary = account.canary
        lines.append(
            f"    canary every {format_duration(canary.interval)}, deadline"
            f" {format_duration(canary.deadline)}"
            if canary.enabled
            else "    canary configured, not enabled (sends nothing)"
        )
    return lines

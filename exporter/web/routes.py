"""Every route the exporter serves."""

from __future__ import annotations

from aiohttp import web

from sms_delivery_exporter.config import Config
from sms_delivery_exporter.web.intake_endpoint import IntakeHandler
from sms_delivery_exporter.web.pages import healthy, landing_page, metrics, ready
from sms_delivery_exporter.web.paths import (
    HEALTHY_PATH,
    INTAKE_PATH,
    METRICS_PATH,
    PUSH_PREFIX,
    READY_PATH,
)
from sms_delivery_exporter.web.push_endpoint import PushHandler


def add_routes(app: web.Application, config: Config) -> None:
    app.router.add_get("/", landing_page)
    app.router.add_get(METRICS_PATH, metrics)
    app.router.add_get(HEALTHY_PATH, healthy)
    app.router.add_get(READY_PATH, ready)
    if config.intake.enabled:
        app.router.add_post(INTAKE_PATH, IntakeHandler(config.intake).handle)
    if any(account.push is not None for account in config.accounts.values()):
        app.router.add_post(PUSH_PREFIX + "{account}", PushHandler(config.intake).handle)


def client_max_size(config: Config) -> int:
    """Room over the intake limit, so that the handler, not aiohttp, answers the 413.

    (Webhook bodies are read past it, against each account's own ``push.max_body_bytes``.)
    """
    return config.intake.max_body_bytes + 1

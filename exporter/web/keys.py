"""What handlers reach of the running exporter: typed app keys, filled by the composition root."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from sms_delivery_exporter.config import Config
from sms_delivery_exporter.intake.registrar import Intake
from sms_delivery_exporter.metrics import Exposition
from sms_delivery_exporter.push.receiving import PushHost
from sms_delivery_exporter.store import Store


@dataclass
class Readiness:
    """Ready: the store is open and healthy, and every account's poller has started."""

    store: Store
    polling: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return self.polling and self.store.is_open and self.store.health.healthy

    def why_not(self) -> str:
        """What keeps the exporter from being ready, in a sentence."""
        if self.store.is_open and not self.store.health.healthy:
            return f"the store cannot keep what it acknowledges ({self.store.health.describe()})"
        return "the store is not open or polling has not started"


CONFIG = web.AppKey("config", Config)
INTAKE = web.AppKey("intake", Intake)
EXPOSITION = web.AppKey("exposition", Exposition)
PUSH = web.AppKey("push", PushHost)
READINESS = web.AppKey("readiness", Readiness)
REFRESH = web.AppKey[Callable[[], Awaitable[None]]]("refresh")
"""Reads the scrape-time gauges from the store, just before /metrics renders."""

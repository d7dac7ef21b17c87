"""The exporter's own metrics: account health, webhooks, intake counts, build info, ``/metrics``.

Owns what is exposed about the exporter itself and how a scrape page is put
together. Imports :mod:`sms_delivery_exporter.outcomes` (rendered on the same
page), :mod:`sms_delivery_exporter.store` (its health) and
:mod:`sms_delivery_exporter.api` (error kinds).
"""

from __future__ import annotations

from sms_delivery_exporter.metrics.build_info import build_info
from sms_delivery_exporter.metrics.canary import CANARY_RESULTS, CanaryCollector, CanaryStats
from sms_delivery_exporter.metrics.collectors import (
    BuildInfoCollector,
    CountersCollector,
    HealthCollector,
    SelfCollector,
    SelfStats,
)
from sms_delivery_exporter.metrics.counters import LabelledCounter
from sms_delivery_exporter.metrics.discovery import DiscoveryCollector, DiscoveryHealth
from sms_delivery_exporter.metrics.exposition import Exposition
from sms_delivery_exporter.metrics.health import AccountHealth
from sms_delivery_exporter.metrics.push import PushCollector, PushHealth
from sms_delivery_exporter.metrics.store_health import StoreHealthCollector

__all__ = [
    "CANARY_RESULTS",
    "AccountHealth",
    "BuildInfoCollector",
    "CanaryCollector",
    "CanaryStats",
    "CountersCollector",
    "DiscoveryCollector",
    "DiscoveryHealth",
    "Exposition",
    "HealthCollector",
    "LabelledCounter",
    "PushCollector",
    "PushHealth",
    "SelfCollector",
    "SelfStats",
    "StoreHealthCollector",
    "build_info",
]

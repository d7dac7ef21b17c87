"""The exporter's operational metrics: API calls, health, throttling, intake.

Event counters are prometheus_client objects on an injected registry. Gauges
about current state (poll lag, oldest message in flight, paused accounts) are
built at scrape time from a snapshot the web handler refreshes just before
rendering, so no stale label set lingers.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
INTAKE_RESULTS = ("accepted", "duplicate", "sampled_out", "invalid")


class ExporterMetrics:
    """Counters and gauges the host updates as events happen."""

    def __init__(self, registry: CollectorRegistry, version: str) -> None:
        # *_created series double the output and no dashboard of ours reads them.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        account = ["provider", "account"]
        self.requests = Counter(
            "sms_exporter_provider_requests",
            "Provider API calls by HTTP status code, or error kind (timeout, connection).",
            [*account, "code"],
            registry=registry,
        )
        self.request_duration = Histogram(
            "sms_exporter_provider_request_duration_seconds",
            "Time of provider API calls.",
            account,
            buckets=REQUEST_BUCKETS,
            registry=registry,
        )
        self.up = Gauge(
            "sms_exporter_provider_up",
            "1 when the account's last API call got a usable answer.",
            account,
            registry=registry,
        )
        self.last_success = Gauge(
            "sms_exporter_provider_last_success_timestamp_seconds",
            "When the account's API last gave a usable answer.",
            account,
            registry=registry,
        )
        self.throttled = Counter(
            "sms_exporter_throttled", "429 answers from the provider.", account, registry=registry
        )
        self.errors = Counter(
            "sms_exporter_provider_errors",
            "Failed polls and refs given up, by kind (auth, throttled, timeout, connection,"
            " transient, bad_response, not_found, invalid).",
            [*account, "kind"],
            registry=registry,
        )
        self.intake = Counter(
            "sms_exporter_intake",
            "Items posted to the intake API (or `track`) by result.",
            ["account", "result"],
            registry=registry,
        )
        self.build_info = Gauge(
            "sms_exporter_build_info",
            "Always 1; the version label.",
            ["version"],
            registry=registry,
        )
        self.build_info.labels(version).set(1)

    def start_account(self, provider: str, account: str, error_kinds: tuple[str, ...]) -> None:
        """Create an account's series at zero, so rates and ratios work from the first scrape."""
        self.requests.labels(provider, account, "200")
        self.request_duration.labels(provider, account)
        self.up.labels(provider, account).set(0)
        self.last_success.labels(provider, account)
        self.throttled.labels(provider, account)
        for kind in error_kinds:
            self.errors.labels(provider, account, kind)
        for result in INTAKE_RESULTS:
            self.intake.labels(account, result)


@dataclass(slots=True)
class AccountSnapshot:
    provider: str
    account: str
    next_poll_at: float | None = None
    oldest_open_submitted_at: float | None = None
    paused_until: float = 0.0


class StateCollector(Collector):
    """Gauges computed from the latest snapshot of each account's state."""

    def __init__(self) -> None:
        self.snapshots: dict[str, AccountSnapshot] = {}

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        lag = GaugeMetricFamily(
            "sms_exporter_poll_lag_seconds",
            "How late the most overdue poll of the account is.",
            labels=["provider", "account"],
        )
        oldest = GaugeMetricFamily(
            "sms_oldest_in_flight_age_seconds",
            "Age of the account's oldest tracked message that is not final.",
            labels=["provider", "account"],
        )
        paused = GaugeMetricFamily(
            "sms_exporter_provider_paused",
            "1 while the account is paused by a 429, a blocked account or refused credentials.",
            labels=["provider", "account"],
        )
        for snap in list(self.snapshots.values()):
            labels = [snap.provider, snap.account]
            due = snap.next_poll_at
            lag.add_metric(labels, max(0.0, now - due) if due is not None else 0.0)
            submitted = snap.oldest_open_submitted_at
            oldest.add_metric(labels, max(0.0, now - submitted) if submitted is not None else 0.0)
            paused.add_metric(labels, 1.0 if snap.paused_until > now else 0.0)
        yield lag
        yield oldest
        yield paused

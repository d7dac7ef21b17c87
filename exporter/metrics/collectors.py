"""Collectors that build fresh families at scrape time from the state the host keeps."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sms_delivery_exporter.metrics.build_info import BuildInfo
from sms_delivery_exporter.metrics.counters import LabelledCounter
from sms_delivery_exporter.metrics.health import REQUEST_BUCKETS, AccountHealth, PauseReason

_ACCOUNT = ("provider", "account")


class HealthCollector(Collector):
    """Every account's API health, from its :class:`AccountHealth`.

    Poll lag and the oldest message's age are the store's, not this process's: with a
    shared store only the replica that serves the shared series has them (``serves_shared``).
    """

    def __init__(
        self,
        healths: Mapping[str, AccountHealth],
        clock: Callable[[], float] = time.time,
        *,
        serves_shared: Callable[[], bool] = lambda: True,
    ) -> None:
        self._healths = healths
        self._clock = clock
        self._serves_shared = serves_shared

    def collect(self) -> Iterator[Metric]:
        now = self._clock()
        requests = CounterMetricFamily(
            "sms_exporter_provider_requests",
            "Provider API calls by HTTP status code, or error kind (timeout, connection).",
            labels=[*_ACCOUNT, "code"],
        )
        durations = HistogramMetricFamily(
            "sms_exporter_provider_request_duration_seconds",
            "Time of provider API calls.",
            labels=_ACCOUNT,
        )
        up = GaugeMetricFamily(
            "sms_exporter_provider_up",
            "1 when the account's last API call got a usable answer.",
            labels=_ACCOUNT,
        )
        last_success = GaugeMetricFamily(
            "sms_exporter_provider_last_success_timestamp_seconds",
            "When the account's API last gave a usable answer.",
            labels=_ACCOUNT,
        )
        throttled = CounterMetricFamily(
            "sms_exporter_throttled", "429 answers from the provider.", labels=_ACCOUNT
        )
        errors = CounterMetricFamily(
            "sms_exporter_provider_errors",
            "Failed polls and refs given up, by kind (see the README for every kind).",
            labels=[*_ACCOUNT, "kind"],
        )
        paused = GaugeMetricFamily(
            "sms_exporter_provider_paused",
            "1 while the account makes no call, by reason (throttled, blocked, auth, backoff).",
            labels=[*_ACCOUNT, "reason"],
        )
        balance = GaugeMetricFamily(
            "sms_exporter_provider_balance",
            "The account's credit, where the provider's API reports it.",
            labels=[*_ACCOUNT, "currency"],
        )
        lag = GaugeMetricFamily(
            "sms_exporter_poll_lag_seconds",
            "How late the most overdue poll of the account is.",
            labels=_ACCOUNT,
        )
        oldest = GaugeMetricFamily(
            "sms_oldest_in_flight_age_seconds",
            "Age of the account's oldest tracked message that is not final.",
            labels=_ACCOUNT,
        )
        objective = GaugeMetricFamily(
            "sms_delivery_objective_ratio",
            "The account's delivery SLO: share of final messages that must not fail.",
            labels=_ACCOUNT,
        )
        shared = self._serves_shared()
        for health in list(self._healths.values()):
            labels = [health.provider, health.account]
            for code, count in list(health.requests.items()):
                requests.add_metric([*labels, code], count)
            buckets = cumulative_buckets(REQUEST_BUCKETS, health.durations)
            durations.add_metric(labels, buckets, health.duration_sum)
            if health.up is not None:
                up.add_metric(labels, health.up)
            if health.last_success is not None:
                last_success.add_metric(labels, health.last_success)
            throttled.add_metric(labels, health.throttled)
            for kind, count in health.errors.items():
                errors.add_metric([*labels, kind.value], count)
            paused_now = health.paused_until > now
            for reason in PauseReason:
                paused.add_metric(
                    [*labels, reason.value], float(paused_now and health.pause_reason is reason)
                )
            if health.balance is not None:
                amount, currency = health.balance
                balance.add_metric([*labels, currency], amount)
            if shared:
                due = health.next_poll_at
                lag.add_metric(labels, max(0.0, now - due) if due is not None else 0.0)
                submitted = health.oldest_open_submitted_at
                age = max(0.0, now - submitted) if submitted is not None else 0.0
                oldest.add_metric(labels, age)
            objective.add_metric(labels, health.delivery_objective)
        yield from (requests, durations, up, last_success, throttled, errors, paused, balance)
        yield from (lag, oldest, objective)


class CountersCollector(Collector):
    """Counters the host keeps as plain numbers (the intake's results)."""

    def __init__(self, *counters: LabelledCounter) -> None:
        self._counters = counters

    def collect(self) -> Iterator[Metric]:
        for counter in self._counters:
            yield counter.family()


class BuildInfoCollector(Collector):
    """``sms_exporter_build_info``: always 1, what runs in its labels."""

    def __init__(self, info: BuildInfo) -> None:
        self._info = info

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "sms_exporter_build_info",
            "Always 1; the version, source revision and Python version in labels.",
            labels=["version", "revision", "python_version"],
        )
        family.add_metric([self._info.version, self._info.revision, self._info.python_version], 1)
        yield family


@dataclass(slots=True)
class SelfStats:
    """Numbers about the exporter itself, refreshed as they change or at scrape time."""

    scrape_seconds: float | None = None
    """How long the previous /metrics page took to render."""
    store_bytes: float | None = None
    """What the store takes on disk."""


class SelfCollector(Collector):
    """The exporter's own cost: scrape duration and store size (absent until known)."""

    def __init__(self, stats: SelfStats) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        for name, documentation, value in (
            (
                "sms_exporter_scrape_duration_seconds",
                "Time the previous /metrics page took to render.",
                self._stats.scrape_seconds,
            ),
            (
                "sms_exporter_store_size_bytes",
                "What the store takes on disk.",
                self._stats.store_bytes,
            ),
        ):
            family = GaugeMetricFamily(name, documentation)
            if value is not None:
                family.add_metric([], value)
            yield family


def cumulative_buckets(bounds: tuple[float, ...], counts: list[int]) -> list[tuple[str, int]]:
    """(le, cumulative count) of a histogram kept as counts per bucket, +Inf last."""
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), cumulative))
    return buckets

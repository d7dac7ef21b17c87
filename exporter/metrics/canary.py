"""Canary results: sends, send errors by reason, outcomes, latency, last success.

Plain numbers written by each account's canary loop, turned into fresh
families at scrape time; only accounts whose canary is enabled have them,
so the canary alerts cannot fire for an account that sends none.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sms_delivery_exporter.metrics.collectors import cumulative_buckets

CANARY_RESULTS = ("delivered", "failed", "timeout", "send_error")
"""What became of one canary: delivered within its deadline, undelivered or rejected,
no final status by the deadline, or the send API refused it."""
CANARY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)


@dataclass(slots=True)
class CanaryStats:
    """One account's canary."""

    provider: str
    account: str
    reasons: tuple[str, ...]
    """Every send error reason the account's canary can report."""
    deadline: float
    sent: int = 0
    send_errors: dict[str, int] = field(default_factory=dict)
    results: dict[str, int] = field(default_factory=dict)
    latencies: list[int] = field(default_factory=lambda: [0] * (len(CANARY_BUCKETS) + 1))
    latency_sum: float = 0.0
    last_success: float | None = None
    """When a canary was last delivered within its deadline."""

    def __post_init__(self) -> None:
        for reason in self.reasons:
            self.send_errors.setdefault(reason, 0)
        for result in CANARY_RESULTS:
            self.results.setdefault(result, 0)

    def send_error(self, reason: str) -> None:
        reason = reason if reason in self.send_errors else "other"
        self.send_errors[reason] = self.send_errors.get(reason, 0) + 1
        self.results["send_error"] += 1

    def finished(self, result: str, *, latency: float | None = None, at: float = 0.0) -> None:
        self.results[result] += 1
        if latency is not None:
            self.latencies[bisect_left(CANARY_BUCKETS, latency)] += 1
            self.latency_sum += latency
        if result == "delivered":
            self.last_success = at


class CanaryCollector(Collector):
    """``sms_canary_*`` of every account whose canary is enabled."""

    def __init__(self, stats: Mapping[str, CanaryStats]) -> None:
        self._stats = stats

    def collect(self) -> Iterator[Metric]:
        labels = ["provider", "account"]
        sent = CounterMetricFamily(
            "sms_canary_sent", "Canary messages the send API accepted.", labels=labels
        )
        errors = CounterMetricFamily(
            "sms_canary_send_errors",
            "Canary sends the send API refused or that failed, by reason.",
            labels=[*labels, "reason"],
        )
        results = CounterMetricFamily(
            "sms_canary_results",
            "Canaries by outcome: delivered (within the deadline), failed, timeout, send_error.",
            labels=[*labels, "result"],
        )
        latency = HistogramMetricFamily(
            "sms_canary_latency_seconds",
            "Send to delivery of canaries delivered within their deadline.",
            labels=labels,
        )
        deadline = GaugeMetricFamily(
            "sms_canary_deadline_seconds", "The canary's delivery deadline.", labels=labels
        )
        last = GaugeMetricFamily(
            "sms_canary_last_success_timestamp_seconds",
            "When a canary was last delivered within its deadline.",
            labels=labels,
        )
        for stats in list(self._stats.values()):
            base = [stats.provider, stats.account]
            sent.add_metric(base, stats.sent)
            for reason, count in list(stats.send_errors.items()):
                errors.add_metric([*base, reason], count)
            for result, count in list(stats.results.items()):
                results.add_metric([*base, result], count)
            buckets = cumulative_buckets(CANARY_BUCKETS, stats.latencies)
            latency.add_metric(base, buckets, stats.latency_sum)
            deadline.add_metric(base, stats.deadline)
            if stats.last_success is not None:
                last.add_metric(base, stats.last_success)
        yield from (sent, errors, results, latency, deadline, last)

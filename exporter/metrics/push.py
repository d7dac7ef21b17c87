"""One account's webhooks, in one object: bumped as calls and events come, read at scrape time."""

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

CALL_RESULTS = (
    "accepted",
    "handshake",
    "malformed",
    "too_large",
    "timeout",
    "unavailable",
    "plugin_error",
)
"""Every result of a call but the refusal, whose name follows the account's credential."""
EVENT_RESULTS = ("applied", "duplicate", "unknown_message", "tracked", "finished", "sampled_out")
DELAY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(slots=True)
class PushHealth:
    """What one account's webhooks did since the process started."""

    provider: str
    account: str
    refusal: str = "bad_signature"
    """The result of a call with a wrong credential: ``bad_signature`` or ``bad_token``."""
    calls: dict[str, int] = field(default_factory=dict)
    events: dict[str, int] = field(default_factory=lambda: dict.fromkeys(EVENT_RESULTS, 0))
    delays: list[int] = field(default_factory=lambda: [0] * (len(DELAY_BUCKETS) + 1))
    delay_sum: float = 0.0
    last_received: float | None = None
    """When the last call with events was accepted; None (absent) until one was."""

    def __post_init__(self) -> None:
        self.calls = dict.fromkeys((*CALL_RESULTS, self.refusal), 0)

    def called(self, result: str) -> None:
        self.calls[result] += 1

    def counted(self, result: str, amount: int = 1) -> None:
        self.events[result] += amount

    def delayed(self, seconds: float) -> None:
        """An event's status reached the counters this long after the provider emitted it."""
        seconds = max(seconds, 0.0)
        self.delays[bisect_left(DELAY_BUCKETS, seconds)] += 1
        self.delay_sum += seconds


class PushCollector(Collector):
    """``sms_exporter_push_*`` of every account with push on."""

    def __init__(self, healths: Mapping[str, PushHealth]) -> None:
        self._healths = healths

    def collect(self) -> Iterator[Metric]:
        labels = ["provider", "account"]
        calls = CounterMetricFamily(
            "sms_exporter_push_requests",
            "Webhook calls by result (accepted, handshake, bad_signature or bad_token,"
            " malformed, too_large, timeout, unavailable, plugin_error).",
            labels=[*labels, "result"],
        )
        events = CounterMetricFamily(
            "sms_exporter_push_events",
            "Events of accepted webhook calls by what became of them (applied, duplicate,"
            " unknown_message, tracked, finished, sampled_out).",
            labels=[*labels, "result"],
        )
        delay = HistogramMetricFamily(
            "sms_exporter_push_delay_seconds",
            "Time from the provider's event to the counters' update, for events with a time.",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "sms_exporter_push_last_received_timestamp_seconds",
            "When the account's last webhook call with events was accepted.",
            labels=labels,
        )
        for health in list(self._healths.values()):
            account = [health.provider, health.account]
            for result, count in health.calls.items():
                calls.add_metric([*account, result], count)
            for result, count in health.events.items():
                events.add_metric([*account, result], count)
            buckets = cumulative_buckets(DELAY_BUCKETS, health.delays)
            delay.add_metric(account, buckets, health.delay_sum)
            if health.last_received is not None:
                last.add_metric(account, health.last_received)
        yield from (calls, events, delay, last)

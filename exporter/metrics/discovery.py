"""Discovery health: pages read per feed kind, since when it walks, and when a walk last worked.

Plain numbers written by each account's discovery loop, turned into fresh
families at scrape time. Label ``feed`` is the feed's kind (reference,
phone_number, not_sent), never its name: a name may hold a hashed number.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

PAGE_RESULTS = ("ok", "error")


@dataclass(slots=True)
class DiscoveryHealth:
    """One account's discovery, by feed kind."""

    provider: str
    account: str
    pages: dict[tuple[str, str], int] = field(default_factory=dict)
    """Pages read, by (feed kind, result)."""
    last_success: dict[str, float] = field(default_factory=dict)
    """When a walk of a feed of this kind last reached its end, by kind."""
    walking_since: dict[str, float] = field(default_factory=dict)
    """Since when this exporter walks the feeds of this kind (as the leader), by kind: what
    staleness counts from until a walk first reaches its end."""
    truncated: dict[str, int] = field(default_factory=dict)
    """Walks that stopped at ``max_pages`` before reaching what they had seen."""

    def zero(self, kinds: Iterable[str]) -> None:
        """Start the counters of the account's feed kinds at 0."""
        for kind in kinds:
            for result in PAGE_RESULTS:
                self.pages.setdefault((kind, result), 0)
            self.truncated.setdefault(kind, 0)

    def page(self, kind: str, result: str) -> None:
        self.pages[(kind, result)] = self.pages.get((kind, result), 0) + 1


class DiscoveryCollector(Collector):
    """``sms_discovery_*`` of every account with a ``discovery:`` block."""

    def __init__(self, healths: Mapping[str, DiscoveryHealth]) -> None:
        self._healths = healths

    def collect(self) -> Iterator[Metric]:
        labels = ["provider", "account", "feed"]
        pages = CounterMetricFamily(
            "sms_discovery_pages",
            "List pages read by discovery, by feed kind and result (ok, error).",
            labels=[*labels, "result"],
        )
        truncated = CounterMetricFamily(
            "sms_discovery_truncated_walks",
            "Walks of a feed that stopped at discovery.max_pages before reaching messages"
            " seen before (messages in between were not discovered).",
            labels=labels,
        )
        last = GaugeMetricFamily(
            "sms_discovery_last_success_timestamp_seconds",
            "When a walk of a feed of this kind last read every page it needed.",
            labels=labels,
        )
        since = GaugeMetricFamily(
            "sms_discovery_walking_since_timestamp_seconds",
            "Since when this exporter walks the feeds of this kind (it leads discovery):"
            " with no walk complete yet, how long discovery has been failing.",
            labels=labels,
        )
        for health in list(self._healths.values()):
            base = [health.provider, health.account]
            for (kind, result), count in list(health.pages.items()):
                pages.add_metric([*base, kind, result], count)
            for kind, count in list(health.truncated.items()):
                truncated.add_metric([*base, kind], count)
            for kind, when in list(health.last_success.items()):
                last.add_metric([*base, kind], when)
            for kind, when in list(health.walking_since.items()):
                since.add_metric([*base, kind], when)
        yield from (pages, truncated, last, since)

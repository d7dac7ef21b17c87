"""``sms_exporter_store_*``: whether the store can keep what it acknowledges."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from sms_delivery_exporter.store import PROBLEMS, Store


class StoreHealthCollector(Collector):
    """The store's health at scrape time, every problem kind from the start."""

    def __init__(self, store: Store, *, leading: Callable[[], bool] = lambda: True) -> None:
        self._store = store
        self._leading = leading

    def collect(self) -> Iterator[Metric]:
        health = self._store.health
        healthy = GaugeMetricFamily(
            "sms_exporter_store_healthy",
            "1 while the store is open and can commit; 0 makes /-/ready fail and the intake 503.",
        )
        healthy.add_metric([], 1.0 if self._store.is_open and health.healthy else 0.0)
        problem = GaugeMetricFamily(
            "sms_exporter_store_problem",
            "1 while the store has this problem (missing, unwritable, corrupt, unreachable).",
            labels=["problem"],
        )
        appeared = CounterMetricFamily(
            "sms_exporter_store_problems",
            "Times a store problem appeared (missing, unwritable, corrupt, unreachable).",
            labels=["problem"],
        )
        for kind in PROBLEMS:
            problem.add_metric([kind], 1.0 if kind in health.problems else 0.0)
            appeared.add_metric([kind], health.appeared.get(kind, 0))
        leader = GaugeMetricFamily(
            "sms_exporter_store_leader",
            "1 on the one exporter that serves the store's shared series (always, with SQLite).",
        )
        leader.add_metric([], 1.0 if self._leading() else 0.0)
        yield from (healthy, problem, appeared, leader)

"""A counter by label values, kept as plain numbers and turned into a family at scrape time."""

from __future__ import annotations

from prometheus_client.core import CounterMetricFamily


class LabelledCounter:
    """Counts by label values; known combinations start at 0 so that rates work at once."""

    def __init__(self, name: str, documentation: str, labels: tuple[str, ...]) -> None:
        self.name = name
        self.documentation = documentation
        self.labels = labels
        self.values: dict[tuple[str, ...], float] = {}

    def zero(self, *labels: str) -> None:
        self.values.setdefault(labels, 0.0)

    def inc(self, *labels: str, amount: float = 1.0) -> None:
        self.values[labels] = self.values.get(labels, 0.0) + amount

    def family(self) -> CounterMetricFamily:
        family = CounterMetricFamily(self.name, self.documentation, labels=self.labels)
        for labels, value in list(self.values.items()):
            family.add_metric(labels, value)
        return family

"""In-memory values of the outcome series, exposed at scrape time.

The store is the record; the ledger is its copy in memory, loaded at start
and fed the deltas of every commit, so a scrape never reads the database.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from sms_delivery_exporter.ledger_text import TextRenderer
from sms_delivery_exporter.outcomes import BUCKET_LABELS, SPECS, Delta, SeriesSpec, storage_name

log = logging.getLogger(__name__)


class Ledger(Collector):
    """Outcome series values; a prometheus_client collector."""

    def __init__(self, application_labels: tuple[str, ...] = ()) -> None:
        self.application_labels = application_labels
        self._values: dict[str, dict[tuple[str, ...], float]] = defaultdict(dict)
        self._label_names: dict[str, tuple[str, ...]] = {}
        self._text = TextRenderer()
        for spec in SPECS:
            extra = application_labels if spec.application_labels else ()
            for name in storage_name(spec):
                le = ("le",) if name.endswith("_bucket") else ()
                self._label_names[name] = (*spec.labels, *le, *extra)

    def label_names(self, series: str) -> tuple[str, ...]:
        return self._label_names[series]

    def add(self, deltas: Iterable[Delta]) -> None:
        """Apply committed deltas."""
        for name, labels, amount in deltas:
            series = self._values[name]
            series[labels] = series.get(labels, 0.0) + amount

    def ensure(self, deltas: Iterable[Delta]) -> None:
        """Create series at their current value (0 when new), for zero-initialisation."""
        for name, labels, _ in deltas:
            self._values[name].setdefault(labels, 0.0)

    def value(self, series: str, labels: tuple[str, ...]) -> float:
        return self._values.get(series, {}).get(labels, 0.0)

    def series_labels(self, series: str) -> list[tuple[str, ...]]:
        """Label values of every series of one name."""
        return list(self._values.get(series, {}))

    def storage_key(self, series: str, labels: tuple[str, ...]) -> str:
        """The JSON object under which the store keeps a series."""
        return json.dumps(dict(zip(self._label_names[series], labels, strict=True)), sort_keys=True)

    def storage_rows(self, deltas: Iterable[Delta]) -> list[tuple[str, str, float]]:
        """Deltas summed per series and keyed as the store keeps them; zero sums left out."""
        merged: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
        for name, labels, amount in deltas:
            merged[(name, labels)] += amount
        return [
            (name, self.storage_key(name, labels), amount)
            for (name, labels), amount in merged.items()
            if amount
        ]

    def load(self, rows: Iterable[tuple[str, str, float]]) -> None:
        """Restore values saved by the store; series whose labels changed are reshaped."""
        for name, labels_json, value in rows:
            names = self._label_names.get(name)
            if names is None:
                log.warning(
                    "ignoring a stored series the exporter no longer has", extra={"series": name}
                )
                continue
            stored = json.loads(labels_json)
            labels = tuple(str(stored.get(label, "")) for label in names)
            series = self._values[name]
            series[labels] = series.get(labels, 0.0) + value

    def render_text(self) -> str:
        """The outcome series in the text format, fast (see :mod:`exporter.ledger_text`)."""
        return self._text.render(self._values, self._label_names)

    def collect(self) -> Iterator[Metric]:
        for spec in SPECS:
            if spec.kind == "histogram":
                yield self._histogram(spec)
                continue
            family_type = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            name = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
            family = family_type(name, spec.documentation, labels=self._label_names[spec.name])
            for labels, value in list(self._values[spec.name].items()):
                family.add_metric(labels, value)
            yield family

    def _histogram(self, spec: SeriesSpec) -> Metric:
        bucket_names = self._label_names[spec.name + "_bucket"]
        le_index = bucket_names.index("le")
        family = HistogramMetricFamily(
            spec.name, spec.documentation, labels=self._label_names[spec.name + "_sum"]
        )
        per_series: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        for labels, count in list(self._values[spec.name + "_bucket"].items()):
            key = labels[:le_index] + labels[le_index + 1 :]
            per_series[key][labels[le_index]] = count
        sums = self._values[spec.name + "_sum"]
        for key, buckets in per_series.items():
            cumulative = 0.0
            rendered: list[tuple[str, float]] = []
            for le in BUCKET_LABELS:
                cumulative += buckets.get(le, 0.0)
                rendered.append((le, cumulative))
            family.add_metric(key, rendered, sum_value=sums.get(key, 0.0))
        return family

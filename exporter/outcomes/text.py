"""The outcome series in the Prometheus text format or OpenMetrics, rendered directly.

Going through prometheus_client's families costs several microseconds per
sample; a scrape of ten thousand series took about 160 ms and held the GIL
the pollers need. Here each series' ``name{labels} `` prefix is built once
and kept, so a scrape is a join of cached strings and formatted numbers.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import cast

from prometheus_client.utils import floatToGoString

from sms_delivery_exporter.outcomes.book import OutcomeBook
from sms_delivery_exporter.outcomes.catalogue import BUCKET_LABELS, SPECS, SeriesSpec

# The same number format as prometheus_client's own exposition.
_number = cast(Callable[[float], str], floatToGoString)

_HistogramPrefixes = tuple[list[str], str, str]
"""Prefixes of one histogram series: its buckets in ``le`` order, its _count, its _sum."""


class OutcomeRenderer:
    """Renders a book's current values; caches what does not change between scrapes."""

    def __init__(self, book: OutcomeBook) -> None:
        self._book = book
        self._prefixes: dict[tuple[str, str], str] = {}
        self._histograms: dict[tuple[str, str], _HistogramPrefixes] = {}
        self._bucket_keys: dict[str, tuple[str, str]] = {}

    def render(self, *, openmetrics: bool = False) -> str:
        """Every outcome series; OpenMetrics without its ``# EOF`` (the caller ends the page)."""
        values = self._book.values
        out: list[str] = []
        for spec in SPECS:
            out.append(_header(spec, openmetrics))
            if spec.kind == "histogram":
                self._histogram(spec, out)
                continue
            for key, value in list(values[spec.name].items()):
                out.append(self._prefix(spec.name, key) + _number(value) + "\n")
        return "".join(out)

    def _prefix(self, series: str, key: str) -> str:
        cached = self._prefixes.get((series, key))
        if cached is None:
            catalogue = self._book.catalogue
            cached = _prefix(series, catalogue.label_names(series), catalogue.labels(series, key))
            self._prefixes[(series, key)] = cached
        return cached

    def _series_key(self, bucket_key: str) -> tuple[str, str]:
        """A bucket row's series (the key its ``_sum`` row has) and its ``le``."""
        cached = self._bucket_keys.get(bucket_key)
        if cached is None:
            labels = json.loads(bucket_key)
            le = str(labels.pop("le"))
            cached = self._bucket_keys[bucket_key] = (json.dumps(labels, sort_keys=True), le)
        return cached

    def _histogram_prefixes(self, spec: SeriesSpec, series_key: str) -> _HistogramPrefixes:
        cached = self._histograms.get((spec.name, series_key))
        if cached is None:
            catalogue = self._book.catalogue
            sum_series, bucket_series = spec.name + "_sum", spec.name + "_bucket"
            labels = catalogue.labels(sum_series, series_key)
            names = catalogue.label_names(sum_series)
            base = len(spec.labels)  # le follows the base labels, before application labels
            buckets = [
                _prefix(
                    bucket_series,
                    catalogue.label_names(bucket_series),
                    (*labels[:base], le, *labels[base:]),
                )
                for le in BUCKET_LABELS
            ]
            cached = (
                buckets,
                _prefix(spec.name + "_count", names, labels),
                _prefix(sum_series, names, labels),
            )
            self._histograms[(spec.name, series_key)] = cached
        return cached

    def _histogram(self, spec: SeriesSpec, out: list[str]) -> None:
        values = self._book.values
        # The store keeps each bucket's own count; exposition wants them cumulative.
        per_series: dict[str, dict[str, float]] = defaultdict(dict)
        for key, count in list(values[spec.name + "_bucket"].items()):
            series_key, le = self._series_key(key)
            per_series[series_key][le] = count
        sums = values[spec.name + "_sum"]
        for series_key, counts in per_series.items():
            buckets, count_prefix, sum_prefix = self._histogram_prefixes(spec, series_key)
            cumulative = 0.0
            for prefix, le in zip(buckets, BUCKET_LABELS, strict=True):
                cumulative += counts.get(le, 0.0)
                out.append(prefix + _number(cumulative) + "\n")
            out.append(count_prefix + _number(cumulative) + "\n")
            out.append(sum_prefix + _number(sums.get(series_key, 0.0)) + "\n")


def _prefix(sample: str, names: tuple[str, ...], values: tuple[str, ...]) -> str:
    pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True))
    return f"{sample}{{{pairs}}} " if pairs else f"{sample} "


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


def _header(spec: SeriesSpec, openmetrics: bool) -> str:
    # OpenMetrics names a counter family without its _total suffix and escapes quotes in help.
    family = spec.name
    help_text = spec.documentation.replace("\\", r"\\").replace("\n", r"\n")
    if openmetrics:
        family = spec.name.removesuffix("_total") if spec.kind == "counter" else spec.name
        help_text = help_text.replace('"', r"\"")
    return f"# HELP {family} {help_text}\n# TYPE {family} {spec.kind}\n"

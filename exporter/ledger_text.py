"""The ledger in the Prometheus text format (0.0.4), rendered directly.

Going through prometheus_client's families costs several microseconds per
sample; a scrape of ten thousand series took about 160 ms and held the GIL
the pollers need. Here each series' ``name{labels} `` prefix is built once
and kept, so a scrape is a join of cached strings and formatted numbers.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import cast

from prometheus_client.utils import floatToGoString

from sms_delivery_exporter.outcomes import BUCKET_LABELS, SPECS

# The same number format as prometheus_client's own exposition.
_number = cast(Callable[[float], str], floatToGoString)


def _escape(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class TextRenderer:
    """Caches series prefixes; renders the ledger's current values."""

    def __init__(self) -> None:
        self._prefixes: dict[tuple[str, tuple[str, ...]], str] = {}

    def prefix(self, sample: str, names: tuple[str, ...], labels: tuple[str, ...]) -> str:
        key = (sample, labels)
        cached = self._prefixes.get(key)
        if cached is None:
            pairs = ",".join(f'{n}="{_escape(v)}"' for n, v in zip(names, labels, strict=True))
            cached = self._prefixes[key] = f"{sample}{{{pairs}}} " if pairs else f"{sample} "
        return cached

    def render(
        self,
        values: dict[str, dict[tuple[str, ...], float]],
        label_names: dict[str, tuple[str, ...]],
    ) -> str:
        out: list[str] = []
        for spec in SPECS:
            kind = spec.kind
            out.append(f"# HELP {spec.name} {spec.documentation}\n# TYPE {spec.name} {kind}\n")
            if kind != "histogram":
                names = label_names[spec.name]
                for labels, value in list(values[spec.name].items()):
                    out.append(self.prefix(spec.name, names, labels) + _number(value) + "\n")
                continue
            self._histogram(spec.name, values, label_names, out)
        return "".join(out)

    def _histogram(
        self,
        name: str,
        values: dict[str, dict[tuple[str, ...], float]],
        label_names: dict[str, tuple[str, ...]],
        out: list[str],
    ) -> None:
        bucket_names = label_names[name + "_bucket"]
        le_index = bucket_names.index("le")
        series_names = label_names[name + "_sum"]
        per_series: dict[tuple[str, ...], dict[str, float]] = defaultdict(dict)
        for labels, count in list(values[name + "_bucket"].items()):
            per_series[labels[:le_index] + labels[le_index + 1 :]][labels[le_index]] = count
        sums = values[name + "_sum"]
        bucket_sample = name + "_bucket"
        for key, buckets in per_series.items():
            cumulative = 0.0
            for le in BUCKET_LABELS:
                cumulative += buckets.get(le, 0.0)
                labels = (*key[:le_index], le, *key[le_index:])
                out.append(
                    self.prefix(bucket_sample, bucket_names, labels) + _number(cumulative) + "\n"
                )
            out.append(self.prefix(name + "_count", series_names, key) + _number(cumulative) + "\n")
            out.append(
                self.prefix(name + "_sum", series_names, key) + _number(sums.get(key, 0.0)) + "\n"
            )

"""The outcome series' values in memory: loaded from the store at start, then fed committed rows.

The store is the record; the book is its copy in memory, so a scrape never
reads the database. Rows are applied only after the store committed them.

A book of a shared store (several replicas commit to it) is not fed: what
this replica commits is only part of the totals. The replica that serves the
shared series replaces the book's values with the store's at each scrape
(:meth:`OutcomeBook.replace`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from sms_delivery_exporter.outcomes.catalogue import Catalogue
from sms_delivery_exporter.store import SeriesRow

log = logging.getLogger(__name__)


class OutcomeBook:
    """Series values by stored name and storage key."""

    def __init__(self, catalogue: Catalogue, *, shared: bool = False) -> None:
        self.catalogue = catalogue
        self.shared = shared
        self._values: dict[str, dict[str, float]] = {name: {} for name in catalogue.stored_names}

    @property
    def values(self) -> Mapping[str, Mapping[str, float]]:
        return self._values

    def add(self, rows: Iterable[SeriesRow]) -> None:
        """Apply rows the store committed (a shared store's book reads totals instead)."""
        if self.shared:
            return
        for name, key, amount in rows:
            series = self._values[name]
            series[key] = series.get(key, 0.0) + amount

    def ensure(self, series: Iterable[tuple[str, str]]) -> None:
        """Create series (name, storage key) at 0 unless they exist: zero-initialisation."""
        for name, key in series:
            self._values[name].setdefault(key, 0.0)

    def load(self, rows: Iterable[SeriesRow]) -> None:
        """Start from what the store holds; series whose label keys changed are reshaped."""
        catalogue = self.catalogue
        for name, key, value in rows:
            series = self._values.get(name)
            if series is None:
                log.warning(
                    "ignoring a stored series the exporter no longer has", extra={"series": name}
                )
                continue
            # A label key added to or removed from the config since: same values, new shape.
            canonical = catalogue.key(name, catalogue.labels(name, key))
            series[canonical] = series.get(canonical, 0.0) + value

    def replace(self, rows: Iterable[SeriesRow]) -> None:
        """Take the store's totals as they are now; series the store lacks go back to 0."""
        for series in self._values.values():
            for key in series:
                series[key] = 0.0
        self.load(rows)

    def value(self, series: str, **labels: str) -> float:
        """One series' value (0 when absent), for summaries and tests."""
        names = self.catalogue.label_names(series)
        key = self.catalogue.key(series, tuple(labels.get(name, "") for name in names))
        return self._values[series].get(key, 0.0)

    def label_sets(self, series: str) -> list[tuple[str, ...]]:
        """Label values of every series of one name, in the catalogue's order."""
        return [self.catalogue.labels(series, key) for key in self._values[series]]

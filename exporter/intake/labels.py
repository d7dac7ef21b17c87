"""Capping the distinct values of each application label, so series stay bounded."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from sms_delivery_exporter.api import OTHER
from sms_delivery_exporter.config import LabelsConfig


class LabelBudget:
    """Caps the distinct values of each application label; later newcomers become ``other``."""

    def __init__(self, config: LabelsConfig, known: Iterable[tuple[str, str]] = ()) -> None:
        self.keys = config.keys
        self._max = config.max_values_per_key
        self._values: dict[str, set[str]] = defaultdict(set)
        for key, value in known:
            self._values[key].add(value)

    def admit(self, labels: Mapping[str, str], pending: dict[str, set[str]]) -> dict[str, str]:
        """The labels with over-budget values replaced; new values go into ``pending``."""
        admitted: dict[str, str] = {}
        for key, value in labels.items():
            known = self._values[key]
            tentative = pending.setdefault(key, set())
            if value in known or value in tentative:
                admitted[key] = value
            elif len(known) + len(tentative) < self._max:
                tentative.add(value)
                admitted[key] = value
            else:
                admitted[key] = OTHER
        return admitted

    def commit(self, pending: Mapping[str, set[str]]) -> None:
        for key, values in pending.items():
            self._values[key].update(values)

"""The outcome series: what messages did, counted once and kept across restarts.

Owns the one catalogue of outcome series (names, help, labels, storage keys),
the deltas trackers and the intake record, the in-memory book fed by the rows
the store commits, and the one renderer of those series. Imports
:mod:`sms_delivery_exporter.store` (row types), :mod:`sms_delivery_exporter.config`
(an account's shape, for the series it starts at zero) and :mod:`sms_delivery_exporter.api`.
"""

from __future__ import annotations

from sms_delivery_exporter.outcomes.book import OutcomeBook
from sms_delivery_exporter.outcomes.catalogue import SPECS, Catalogue, Delta, SeriesSpec
from sms_delivery_exporter.outcomes.recorder import OutcomeRecorder, label_values, zero_series
from sms_delivery_exporter.outcomes.text import OutcomeRenderer

__all__ = [
    "SPECS",
    "Catalogue",
    "Delta",
    "OutcomeBook",
    "OutcomeRecorder",
    "OutcomeRenderer",
    "SeriesSpec",
    "label_values",
    "zero_series",
]

"""The outcome series: their names, help texts and labels, and the keys the store keeps them by.

Outcome series are what messages did (tracked, final, failures, latency,
cost, in flight...). They are not prometheus_client objects: their changes
are committed to the store with the state that caused them, then applied to
the in-memory :class:`~.book.OutcomeBook`. This module is their one catalogue.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sms_delivery_exporter.store import SeriesRow

Delta = tuple[str, tuple[str, ...], float]
"""(series name, label values in the series' label order, amount)."""

LATENCY_BUCKETS = (1.0, 2.0, 5.0, 10.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
BUCKET_LABELS = (*(repr(bound) for bound in LATENCY_BUCKETS), "+Inf")

TRACKED = "sms_messages_tracked_total"
FINAL = "sms_messages_final_total"
FAILURES = "sms_message_failures_total"
READ = "sms_messages_read_total"
LATENCY = "sms_delivery_latency_seconds"
LATENCY_BUCKET = LATENCY + "_bucket"
LATENCY_SUM = LATENCY + "_sum"
SEGMENTS = "sms_message_segments_total"
COST = "sms_message_cost_total"
IN_FLIGHT = "sms_messages_in_flight"
DROPPED = "sms_exporter_refs_dropped_total"
CONTRADICTIONS = "sms_exporter_status_contradictions_total"
FINAL_BY_COUNTRY = "sms_messages_final_by_country_total"
AWAITING_READ = "sms_messages_awaiting_read"
LATENCY_UNCERTAIN = "sms_delivery_latency_uncertain_total"
UNCERTAINTY_CAUSES = ("late_first_poll", "poll_gap", "read_first")
FINAL_BY_SOURCE = "sms_messages_final_by_source_total"
SOURCES = ("poll", "push", "discovery", "expiry")
"""How a final status was learned: a poll's answer, a webhook, a discovery list answer, or
the tracking window closing."""
TRACKED_FROM_PUSH = "sms_messages_tracked_from_push_total"
TRACKED_FROM_DISCOVERY = "sms_messages_tracked_from_discovery_total"


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One outcome metric as exposed: its kind, help text and base labels."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    documentation: str
    labels: tuple[str, ...]
    application_labels: bool = True
    """Whether the configured intake labels follow the base labels."""

    @property
    def stored_as(self) -> tuple[str, ...]:
        """The series names the store keeps (a histogram has two: buckets and sum)."""
        if self.kind == "histogram":
            return (self.name + "_bucket", self.name + "_sum")
        return (self.name,)


SPECS = (
    SeriesSpec(TRACKED, "counter", "Refs accepted for tracking.", ("provider", "account")),
    SeriesSpec(
        FINAL,
        "counter",
        "Messages that reached a final status, each counted once.",
        ("provider", "account", "channel", "status"),
    ),
    SeriesSpec(
        FAILURES,
        "counter",
        "Undelivered and rejected messages by failure reason.",
        ("provider", "account", "channel", "status", "reason"),
    ),
    SeriesSpec(
        FINAL_BY_COUNTRY,
        "counter",
        "Final messages by destination country (ISO 3166 alpha-2), where an account enables it.",
        ("provider", "account", "country", "status"),
        application_labels=False,
    ),
    SeriesSpec(
        FINAL_BY_SOURCE,
        "counter",
        "Final messages by how their status was learned (poll, push, discovery, expiry), each"
        " counted once.",
        ("provider", "account", "source"),
        application_labels=False,
    ),
    SeriesSpec(
        TRACKED_FROM_PUSH,
        "counter",
        "Refs first heard of by a webhook and tracked from there (push.track_unregistered).",
        ("provider", "account"),
        application_labels=False,
    ),
    SeriesSpec(
        TRACKED_FROM_DISCOVERY,
        "counter",
        "Refs first found by discovery (a list endpoint or feed, by feed kind) and tracked"
        " from there; also counted in sms_messages_tracked_total.",
        ("provider", "account", "feed"),
        application_labels=False,
    ),
    SeriesSpec(READ, "counter", "RCS read receipts.", ("provider", "account", "channel")),
    SeriesSpec(
        LATENCY,
        "histogram",
        "Time from acceptance by the provider to delivery.",
        ("provider", "account", "channel"),
    ),
    SeriesSpec(
        LATENCY_UNCERTAIN,
        "counter",
        "Deliveries left out of the latency histogram because their time was too uncertain,"
        " by cause (late_first_poll, poll_gap, read_first).",
        ("provider", "account", "channel", "cause"),
    ),
    SeriesSpec(
        SEGMENTS,
        "counter",
        "Billed message parts of final messages.",
        ("provider", "account", "channel"),
    ),
    SeriesSpec(
        COST,
        "counter",
        "Cost the provider reported for final messages.",
        ("provider", "account", "currency"),
    ),
    SeriesSpec(
        IN_FLIGHT,
        "gauge",
        "Tracked messages not final yet, by status (pending: not yet seen by the provider).",
        ("provider", "account", "status"),
    ),
    SeriesSpec(
        AWAITING_READ,
        "gauge",
        "Delivered RCS messages still polled for their read receipt (not in flight).",
        ("provider", "account", "channel"),
    ),
    SeriesSpec(
        DROPPED,
        "counter",
        "Refs given up because the provider does not know them or calls them invalid.",
        ("provider", "account", "reason"),
        application_labels=False,
    ),
    SeriesSpec(
        CONTRADICTIONS,
        "counter",
        "Provider answers that contradicted a final status already counted (ignored).",
        ("provider", "account"),
        application_labels=False,
    ),
)


def bucket_label(seconds: float) -> str:
    """The ``le`` of the (non-cumulative) bucket a latency falls in."""
    return BUCKET_LABELS[bisect_left(LATENCY_BUCKETS, seconds)]


class Catalogue:
    """The series of one configuration (its application label keys) and their storage keys.

    The store keeps a series under a JSON object of its labels with sorted
    keys; the book and the renderer use that same key, so a committed row is
    applied without decoding it.
    """

    def __init__(self, application_labels: tuple[str, ...] = ()) -> None:
        self.application_labels = application_labels
        self._label_names: dict[str, tuple[str, ...]] = {}
        for spec in SPECS:
            extra = application_labels if spec.application_labels else ()
            for name in spec.stored_as:
                le = ("le",) if name.endswith("_bucket") else ()
                self._label_names[name] = (*spec.labels, *le, *extra)
        self._keys: dict[tuple[str, tuple[str, ...]], str] = {}

    @property
    def stored_names(self) -> Iterable[str]:
        return self._label_names.keys()

    def label_names(self, series: str) -> tuple[str, ...]:
        return self._label_names[series]

    def key(self, series: str, labels: tuple[str, ...]) -> str:
        """The storage key of one series; cached, since label sets are few and bounded."""
        cached = self._keys.get((series, labels))
        if cached is None:
            names = self._label_names[series]
            cached = json.dumps(dict(zip(names, labels, strict=True)), sort_keys=True)
            self._keys[(series, labels)] = cached
        return cached

    def labels(self, series: str, key: str) -> tuple[str, ...]:
        """Label values of a storage key in this configuration's order ("" where absent)."""
        stored = json.loads(key)
        return tuple(str(stored.get(name, "")) for name in self._label_names[series])

    def rows(self, deltas: Iterable[Delta]) -> list[SeriesRow]:
        """Deltas summed per series and keyed as the store keeps them; zero sums left out."""
        merged: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
        for name, labels, amount in deltas:
            merged[(name, labels)] += amount
        return [
            (name, self.key(name, labels), amount)
            for (name, labels), amount in merged.items()
            if amount
        ]

"""The outcome metrics: what messages did, counted once and kept across restarts.

Outcome series are not prometheus_client objects. Their changes are *deltas*
committed to the store in the same transaction as the ref state that caused
them, then added to the in-memory :class:`~exporter.ledger.Ledger`; so a
``kill -9`` between a poll and its commit loses both or neither, and a final
status is never counted twice. This module names the series and builds the
deltas.
"""

from __future__ import annotations

import json
import math
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from sms_delivery_exporter.statuses import FAILURE_STATUSES, FINAL_STATUSES, OPEN_STATUSES, Status

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


@dataclass(frozen=True, slots=True)
class SeriesSpec:
    """One outcome metric as exposed: its kind, help text and base labels."""

    name: str
    kind: Literal["counter", "gauge", "histogram"]
    documentation: str
    labels: tuple[str, ...]
    application_labels: bool = True
    """Whether the configured intake labels follow the base labels."""


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
    SeriesSpec(READ, "counter", "RCS read receipts.", ("provider", "account", "channel")),
    SeriesSpec(
        LATENCY,
        "histogram",
        "Time from acceptance by the provider to delivery.",
        ("provider", "account", "channel"),
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
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}


def label_values(labels: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A ref's application labels (stored as a JSON object) in configured key order."""
    given = json.loads(labels) if labels else {}
    return tuple(str(given.get(key, "")) for key in keys)


def storage_name(spec: SeriesSpec) -> Iterable[str]:
    """The series names a spec is stored under (a histogram has two)."""
    if spec.kind == "histogram":
        return (spec.name + "_bucket", spec.name + "_sum")
    return (spec.name,)


def bucket_label(seconds: float) -> str:
    """The ``le`` of the (non-cumulative) bucket a latency falls in."""
    return BUCKET_LABELS[bisect_left(LATENCY_BUCKETS, seconds)]


class OutcomeRecorder:
    """Builds the deltas for one account and one set of application label values."""

    def __init__(
        self,
        provider: str,
        account: str,
        app_labels: tuple[str, ...] = (),
        final_statuses: frozenset[Status] = FINAL_STATUSES,
    ) -> None:
        self.provider = provider
        self.account = account
        self.app_labels = app_labels
        self.final_statuses = final_statuses
        self.deltas: list[Delta] = []

    def _add(self, name: str, labels: tuple[str, ...], amount: float = 1.0) -> None:
        self.deltas.append((name, (self.provider, self.account, *labels, *self.app_labels), amount))

    def tracked(self, count: int = 1) -> None:
        self._add(TRACKED, (), count)
        self._add(IN_FLIGHT, (Status.PENDING.value,), count)

    def moved(self, old: Status, new: Status) -> None:
        """An open message changed status (or a pending ref became messages)."""
        if old not in self.final_statuses:
            self._add(IN_FLIGHT, (old.value,), -1)
        if new not in self.final_statuses:
            self._add(IN_FLIGHT, (new.value,), 1)

    def left_pending(self) -> None:
        """The provider listed the ref's messages for the first time."""
        self._add(IN_FLIGHT, (Status.PENDING.value,), -1)

    def appeared(self, status: Status) -> None:
        """A message of a ref first seen by the provider (the ref's pending already left)."""
        if status not in self.final_statuses:
            self._add(IN_FLIGHT, (status.value,), 1)

    def final(
        self,
        channel: str,
        status: Status,
        reason: str | None,
        segments: int | None,
        cost: float | None,
        currency: str | None,
        country: str | None = None,
    ) -> None:
        self._add(FINAL, (channel, status.value))
        if country is not None:
            self.deltas.append(
                (FINAL_BY_COUNTRY, (self.provider, self.account, country, status.value), 1.0)
            )
        if status in FAILURE_STATUSES:
            self._add(FAILURES, (channel, status.value, reason or "other"))
        if segments:
            self._add(SEGMENTS, (channel,), segments)
        if cost and currency:
            self._add(COST, (currency,), cost)

    def latency(self, channel: str, seconds: float) -> None:
        if not math.isfinite(seconds):
            return
        seconds = max(seconds, 0.0)
        self._add(LATENCY_BUCKET, (channel, bucket_label(seconds)))
        self._add(LATENCY_SUM, (channel,), seconds)

    def read(self, channel: str) -> None:
        self._add(READ, (channel,))

    def dropped(self, reason: str, open_statuses: Iterable[Status]) -> None:
        self.deltas.append((DROPPED, (self.provider, self.account, reason), 1.0))
        for status in open_statuses:
            self._add(IN_FLIGHT, (status.value,), -1)

    def contradiction(self) -> None:
        self.deltas.append((CONTRADICTIONS, (self.provider, self.account), 1.0))


def zero_series(
    provider: str,
    account: str,
    *,
    channels: Iterable[str],
    read_channels: Iterable[str],
    reasons: Iterable[str],
    app_labels: tuple[str, ...],
    final_statuses: frozenset[Status] = FINAL_STATUSES,
) -> list[Delta]:
    """Every known label combination of an account at 0, so ratios work from the first scrape."""
    base = (provider, account)
    zeros: list[Delta] = [
        (TRACKED, (*base, *app_labels), 0.0),
        (CONTRADICTIONS, base, 0.0),
        *((DROPPED, (*base, reason), 0.0) for reason in ("not_found", "invalid")),
        *(
            (IN_FLIGHT, (*base, status.value, *app_labels), 0.0)
            for status in OPEN_STATUSES
            if status not in final_statuses
        ),
    ]
    all_reasons = sorted({*reasons, "other"})
    for channel in channels:
        zeros.append((SEGMENTS, (*base, channel, *app_labels), 0.0))
        zeros.append((LATENCY_SUM, (*base, channel, *app_labels), 0.0))
        zeros.extend(
            (LATENCY_BUCKET, (*base, channel, le, *app_labels), 0.0) for le in BUCKET_LABELS
        )
        zeros.extend(
            (FINAL, (*base, channel, status.value, *app_labels), 0.0)
            for status in sorted(final_statuses)
        )
        zeros.extend(
            (FAILURES, (*base, channel, status.value, reason, *app_labels), 0.0)
            for status in sorted(FAILURE_STATUSES)
            for reason in all_reasons
        )
    zeros.extend((READ, (*base, channel, *app_labels), 0.0) for channel in read_channels)
    return zeros

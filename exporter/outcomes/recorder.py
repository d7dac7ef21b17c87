"""Turning what happened to messages into outcome deltas, counted once.

A tracker or the intake records events on an :class:`OutcomeRecorder`; its
deltas are committed to the store with the state change that caused them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

from sms_delivery_exporter.api import FAILURE_STATUSES, FINAL_STATUSES, OPEN_STATUSES, Status
from sms_delivery_exporter.config import Account
from sms_delivery_exporter.outcomes.catalogue import (
    AWAITING_READ,
    BUCKET_LABELS,
    CONTRADICTIONS,
    COST,
    DROPPED,
    FAILURES,
    FINAL,
    FINAL_BY_COUNTRY,
    FINAL_BY_SOURCE,
    IN_FLIGHT,
    LATENCY_BUCKET,
    LATENCY_SUM,
    LATENCY_UNCERTAIN,
    READ,
    SEGMENTS,
    SOURCES,
    TRACKED,
    TRACKED_FROM_DISCOVERY,
    TRACKED_FROM_PUSH,
    UNCERTAINTY_CAUSES,
    Delta,
    bucket_label,
)


def label_values(labels: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """A ref's application labels (stored as a JSON object) in configured key order."""
    given = json.loads(labels) if labels else {}
    return tuple(str(given.get(key, "")) for key in keys)


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

    def tracked(self, count: int = 1, *, pushed: bool = False) -> None:
        """Refs registered, or (``pushed``) first heard of by a webhook."""
        self._add(TRACKED, (), count)
        self._add(IN_FLIGHT, (Status.PENDING.value,), count)
        if pushed:
            self.deltas.append((TRACKED_FROM_PUSH, (self.provider, self.account), count))

    def discovered(self, feed_kind: str) -> None:
        """A ref first found by discovery: tracked, and counted by the kind of its feed."""
        self.tracked()
        self.deltas.append((TRACKED_FROM_DISCOVERY, (self.provider, self.account, feed_kind), 1.0))

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
        *,
        source: str = "poll",
    ) -> None:
        """A message reached its final status, learned by ``source`` (see ``SOURCES``)."""
        self._add(FINAL, (channel, status.value))
        self.deltas.append((FINAL_BY_SOURCE, (self.provider, self.account, source), 1.0))
        if status in FAILURE_STATUSES:
            self._add(FAILURES, (channel, status.value, reason or "other"))
        self.details(channel, status, segments, cost, currency, country)

    def details(
        self,
        channel: str,
        status: Status,
        segments: int | None,
        cost: float | None,
        currency: str | None,
        country: str | None,
    ) -> None:
        """What a final message was billed and where it went: with its final status, or
        later, when a webhook told the status and only a poll tells the rest."""
        if country is not None:
            self.deltas.append(
                (FINAL_BY_COUNTRY, (self.provider, self.account, country, status.value), 1.0)
            )
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

    def uncertain_latency(self, channel: str, cause: str) -> None:
        """A delivery whose latency is too uncertain for the histogram, and why."""
        self._add(LATENCY_UNCERTAIN, (channel, cause))

    def read(self, channel: str) -> None:
        self._add(READ, (channel,))

    def awaiting_read(self, channel: str, amount: float) -> None:
        """A delivered message starts (+1) or stops (-1) waiting for its read receipt."""
        self._add(AWAITING_READ, (channel,), amount)

    def dropped(self, reason: str, open_statuses: Iterable[Status]) -> None:
        self.deltas.append((DROPPED, (self.provider, self.account, reason), 1.0))
        for status in open_statuses:
            self._add(IN_FLIGHT, (status.value,), -1)

    def contradiction(self) -> None:
        self.deltas.append((CONTRADICTIONS, (self.provider, self.account), 1.0))


def zero_series(account: Account, app_labels: tuple[str, ...]) -> list[Delta]:
    """Every series an account can report, at 0, so that ratios work from the start.

    Series of what the account cannot report (segments, cost, delivery latency,
    statuses it never gives, finals learned by push without push, or by discovery
    without a ``discovery:`` block) are not created: unknown is not zero. With push
    on, an account may report statuses and reasons its provider's polled API cannot.
    """
    provider = account.provider
    base = (provider.name, account.name)
    final = account.final_statuses
    statuses = account.statuses | {Status.EXPIRED}
    push = account.push is not None
    zeros: list[Delta] = [
        (TRACKED, (*base, *app_labels), 0.0),
        (CONTRADICTIONS, base, 0.0),
        *((DROPPED, (*base, reason), 0.0) for reason in ("not_found", "invalid")),
        *(
            (FINAL_BY_SOURCE, (*base, source), 0.0)
            for source in SOURCES
            if (push or source != "push")
            and (account.discovery is not None or source != "discovery")
        ),
        *(
            (IN_FLIGHT, (*base, status.value, *app_labels), 0.0)
            for status in OPEN_STATUSES
            if status not in final and (status is Status.PENDING or status in statuses)
        ),
    ]
    if account.push is not None and account.push.track_unregistered:
        zeros.append((TRACKED_FROM_PUSH, base, 0.0))
    all_reasons = sorted({*account.reasons, "other"})
    delivers = Status.DELIVERED in statuses
    for channel in provider.channels:
        labels = (*base, channel, *app_labels)
        if provider.reports_segments:
            zeros.append((SEGMENTS, labels, 0.0))
        if delivers:
            zeros.append((LATENCY_SUM, labels, 0.0))
            zeros.extend(
                (LATENCY_BUCKET, (*base, channel, le, *app_labels), 0.0) for le in BUCKET_LABELS
            )
            zeros.extend(
                (LATENCY_UNCERTAIN, (*base, channel, cause, *app_labels), 0.0)
                for cause in UNCERTAINTY_CAUSES
                if cause != "read_first" or channel in provider.read_channels
            )
        zeros.extend(
            (FINAL, (*base, channel, status.value, *app_labels), 0.0)
            for status in sorted(final & statuses)
        )
        zeros.extend(
            (FAILURES, (*base, channel, status.value, reason, *app_labels), 0.0)
            for status in sorted(FAILURE_STATUSES & statuses)
            for reason in all_reasons
        )
    for channel in provider.read_channels:
        zeros.append((READ, (*base, channel, *app_labels), 0.0))
        zeros.append((AWAITING_READ, (*base, channel, *app_labels), 0.0))
    return zeros

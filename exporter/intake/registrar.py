"""Registering refs: validate, sample, commit, then count and wake the pollers.

A batch is acknowledged only after its refs are committed; a refused batch
applies nothing, not even the label values it would have introduced. Each
new ref's counter changes are committed in the same transaction as the ref,
and reach the book only from the rows the store says it committed.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sms_delivery_exporter.config import Account, LabelsConfig
from sms_delivery_exporter.intake.items import IntakeItem, ItemError, ItemValidator
from sms_delivery_exporter.intake.labels import LabelBudget
from sms_delivery_exporter.intake.sampling import sampled_in
from sms_delivery_exporter.metrics import LabelledCounter
from sms_delivery_exporter.outcomes import OutcomeBook, OutcomeRecorder, label_values, zero_series
from sms_delivery_exporter.store import NewRef, Store, StoreError, StoreUnavailable

INTAKE_RESULTS = ("accepted", "duplicate", "sampled_out", "invalid")


class IntakeRejected(Exception):
    """The batch has invalid items; nothing of it was applied."""

    def __init__(self, errors: list[ItemError]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the batch")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class IntakeResult:
    accepted: int
    duplicates: int
    sampled_out: int

    def as_json(self) -> dict[str, int]:
        return {
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "sampled_out": self.sampled_out,
        }


def intake_counter() -> LabelledCounter:
    """``sms_exporter_intake_total``: items by account and result."""
    return LabelledCounter(
        "sms_exporter_intake",
        "Items posted to the intake API (or `track`) by result.",
        ("account", "result"),
    )


class Intake:
    """The one way refs enter the store."""

    def __init__(
        self,
        *,
        store: Store,
        book: OutcomeBook,
        accounts: Mapping[str, Account],
        labels: LabelsConfig,
        counts: LabelledCounter,
        wake: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._book = book
        self._accounts = accounts
        self._validator = ItemValidator(accounts, labels)
        self._labels_config = labels
        self._budget = LabelBudget(labels)
        self._counts = counts
        self._wake = wake
        self._clock = clock
        self._seen_label_sets: set[tuple[str, tuple[str, ...]]] = set()
        for name in accounts:
            for result in INTAKE_RESULTS:
                counts.zero(name, result)

    def start(self, known_label_values: Iterable[tuple[str, str]]) -> None:
        """Resume from the store: the label values seen before, every known series at zero."""
        self._budget = LabelBudget(self._labels_config, known_label_values)
        empty = tuple("" for _ in self._labels_config.keys)
        for account in self._accounts.values():
            self.zero_label_set(account, empty)
        for labels in self._book.label_sets("sms_messages_tracked_total"):
            known = self._accounts.get(labels[1])
            if known is not None:
                self.zero_label_set(known, labels[2:])

    async def register(self, raw_items: list[Any]) -> IntakeResult:
        """Validate and commit a batch; :class:`IntakeRejected` when any item is bad."""
        now = self._clock()
        items, errors = self._validator.validate(raw_items, now)
        if errors:
            self._count_refused(raw_items, errors)
            raise IntakeRejected(errors)
        kept: list[IntakeItem] = []
        sampled_out: Counter[str] = Counter()
        for item in items:
            rate = self._accounts[item.account].settings.sample_rate
            if sampled_in(item.account, item.ref_key, rate):
                kept.append(item)
            else:
                sampled_out[item.account] += 1
        pending: dict[str, set[str]] = {}
        new_refs = [self._new_ref(item, now, pending) for item in kept]
        new_values = [(key, value) for key, values in pending.items() for value in values]
        self._store.health.check()
        try:
            result = await self._store.insert_refs(new_refs, new_values)
        except StoreError as exc:
            raise StoreUnavailable(str(exc)) from None
        self._budget.commit(pending)
        self._book.add(result.rows)
        accepted: Counter[str] = Counter()
        duplicates: Counter[str] = Counter()
        for ref, was_new in zip(new_refs, result.new, strict=True):
            (accepted if was_new else duplicates)[ref.account] += 1
            if was_new and ref.labels:
                self.zero_label_set(self._accounts[ref.account], self._label_values(ref.labels))
        for account, count in accepted.items():
            self._counts.inc(account, "accepted", amount=count)
            self._wake(account)
        for account, count in duplicates.items():
            self._counts.inc(account, "duplicate", amount=count)
        for account, count in sampled_out.items():
            self._counts.inc(account, "sampled_out", amount=count)
        return IntakeResult(
            sum(accepted.values()), sum(duplicates.values()), sum(sampled_out.values())
        )

    def _new_ref(self, item: IntakeItem, now: float, pending: dict[str, set[str]]) -> NewRef:
        account = self._accounts[item.account]
        labels = self._budget.admit(item.labels, pending)
        stored_labels = json.dumps(labels, sort_keys=True) if labels else ""
        recorder = OutcomeRecorder(
            account.provider.name,
            account.name,
            self._label_values(stored_labels),
            account.final_statuses,
        )
        recorder.tracked()
        return NewRef(
            account=item.account,
            ref_key=item.ref_key,
            labels=stored_labels,
            submitted_at=item.submitted_at,
            tracked_at=now,
            next_poll_at=item.submitted_at + account.schedule.first_poll,
            rows=self._book.catalogue.rows(recorder.deltas),
        )

    def _label_values(self, labels: str) -> tuple[str, ...]:
        return label_values(labels, self._budget.keys)

    def zero_label_set(self, account: Account, values: tuple[str, ...]) -> None:
        """Zero-initialise an account's series for one combination of application labels."""
        if (account.name, values) in self._seen_label_sets:
            return
        self._seen_label_sets.add((account.name, values))
        zeros = zero_series(account, values)
        self._book.ensure(
            (name, self._book.catalogue.key(name, labels)) for name, labels, _ in zeros
        )

    def _count_refused(self, raw_items: list[Any], errors: list[ItemError]) -> None:
        for index in {error.index for error in errors}:
            account = self._validator.account_of(raw_items[index])
            if account is not None:
                self._counts.inc(account, "invalid")

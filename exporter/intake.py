"""Registering refs: validate, sample, commit, then count and wake the pollers.

A batch is acknowledged only after its refs are committed; a refused batch
applies nothing, not even the label values it would have introduced.
"""

from __future__ import annotations

import json
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from sms_delivery_exporter.config import Account, LabelsConfig
from sms_delivery_exporter.intake_items import IntakeItem, ItemError, ItemValidator, sampled_in
from sms_delivery_exporter.ledger import Ledger
from sms_delivery_exporter.metrics import ExporterMetrics
from sms_delivery_exporter.outcomes import Delta, OutcomeRecorder, label_values, zero_series
from sms_delivery_exporter.statuses import OTHER
from sms_delivery_exporter.store import NewRef, SeriesRow, Store


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


class Intake:
    """The one way refs enter the store."""

    def __init__(
        self,
        *,
        store: Store,
        ledger: Ledger,
        metrics: ExporterMetrics,
        accounts: Mapping[str, Account],
        labels: LabelsConfig,
        wake: Callable[[str], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._ledger = ledger
        self._metrics = metrics
        self._accounts = accounts
        self._validator = ItemValidator(accounts, labels)
        self._labels_config = labels
        self._budget = LabelBudget(labels)
        self._wake = wake
        self._clock = clock
        self._seen_label_sets: set[tuple[str, tuple[str, ...]]] = set()

    def load_label_values(self, known: Iterable[tuple[str, str]]) -> None:
        self._budget = LabelBudget(self._labels_config, known)

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
        committed: list[Delta] = []
        new_values = [(key, value) for key, values in pending.items() for value in values]
        inserted = await self._store.run(
            partial(
                self._store.insert_refs,
                new_refs,
                partial(self._tracked_deltas, committed),
                new_values,
            )
        )
        self._budget.commit(pending)
        self._ledger.add(committed)
        accepted: Counter[str] = Counter()
        duplicates: Counter[str] = Counter()
        for ref, was_new in zip(new_refs, inserted, strict=True):
            (accepted if was_new else duplicates)[ref.account] += 1
            if was_new and ref.labels:
                self.zero_label_set(self._accounts[ref.account], self.app_label_values(ref.labels))
        for account, count in accepted.items():
            self._metrics.intake.labels(account, "accepted").inc(count)
            self._wake(account)
        for account, count in duplicates.items():
            self._metrics.intake.labels(account, "duplicate").inc(count)
        for account, count in sampled_out.items():
            self._metrics.intake.labels(account, "sampled_out").inc(count)
        return IntakeResult(
            sum(accepted.values()), sum(duplicates.values()), sum(sampled_out.values())
        )

    def _new_ref(self, item: IntakeItem, now: float, pending: dict[str, set[str]]) -> NewRef:
        labels = self._budget.admit(item.labels, pending)
        schedule = self._accounts[item.account].settings.schedule
        return NewRef(
            account=item.account,
            ref_key=item.ref_key,
            labels=json.dumps(labels, sort_keys=True) if labels else "",
            submitted_at=item.submitted_at,
            tracked_at=now,
            next_poll_at=item.submitted_at + schedule.first_poll,
        )

    def app_label_values(self, labels: str) -> tuple[str, ...]:
        return label_values(labels, self._budget.keys)

    def _tracked_deltas(self, out: list[Delta], new_refs: list[NewRef]) -> list[SeriesRow]:
        """Runs in the store's transaction: the counter changes the new refs cause."""
        for ref in new_refs:
            account = self._accounts[ref.account]
            values = self.app_label_values(ref.labels)
            recorder = OutcomeRecorder(
                account.provider.name, account.name, values, account.provider.final_statuses
            )
            recorder.tracked()
            out.extend(recorder.deltas)
        return self._ledger.storage_rows(out)

    def zero_label_set(self, account: Account, values: tuple[str, ...]) -> None:
        """Zero-initialise an account's series for one combination of application labels."""
        if (account.name, values) in self._seen_label_sets:
            return
        self._seen_label_sets.add((account.name, values))
        provider = account.provider
        self._ledger.ensure(
            zero_series(
                provider.name,
                account.name,
                channels=provider.channels,
                read_channels=provider.read_channels,
                reasons=provider.reasons,
                app_labels=values,
                final_statuses=provider.final_statuses,
            )
        )

    def _count_refused(self, raw_items: list[Any], errors: list[ItemError]) -> None:
        bad = {error.index for error in errors}
        for index in bad:
            account = (
                self._validator.account_of(raw_items[index]) if index < len(raw_items) else None
            )
            if account is not None:
                self._metrics.intake.labels(account, "invalid").inc()

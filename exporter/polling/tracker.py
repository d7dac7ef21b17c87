"""What one poll means: the state change of a ref, its next poll, and the deltas to count.

Pure functions of (ref as stored, provider answer, now): no I/O, so the rules
of the lifecycle (PROVIDERS.md, "Canonical statuses") are tested directly.
State is monotonic; a final status is counted once; a contradiction is
counted, never applied.
"""

from __future__ import annotations

from dataclasses import dataclass

from sms_delivery_exporter.api import (
    FINAL_STATUSES,
    OTHER,
    Observation,
    RefInvalid,
    RefNotFound,
    RefReport,
    ScheduleSettings,
    Status,
)
from sms_delivery_exporter.outcomes import Delta, OutcomeRecorder, label_values
from sms_delivery_exporter.outcomes.countries import country_label
from sms_delivery_exporter.polling.ref_state import MessageState, RefState
from sms_delivery_exporter.store import DueRef, RefUpdate


@dataclass(frozen=True)
class AccountRules:
    """What the tracker needs to know of one account and its provider."""

    provider: str
    account: str
    schedule: ScheduleSettings
    reasons: frozenset[str]
    channels: tuple[str, ...] = ("sms",)
    read_channels: frozenset[str] = frozenset()
    application_labels: tuple[str, ...] = ()
    final_statuses: frozenset[Status] = FINAL_STATUSES


PollResult = tuple[RefUpdate, list[Delta]]


class Tracker:
    """Applies provider answers to refs of one account."""

    def __init__(self, rules: AccountRules) -> None:
        self.rules = rules
        self._label_cache: dict[str, tuple[str, ...]] = {}
        self._open_texts: dict[tuple[Status, str], str] = {}

    def recorder(self, labels: str) -> OutcomeRecorder:
        rules = self.rules
        return OutcomeRecorder(
            rules.provider, rules.account, self.app_label_values(labels), rules.final_statuses
        )

    def app_label_values(self, labels: str) -> tuple[str, ...]:
        """The ref's application label values, in configured key order."""
        values = self._label_cache.get(labels)
        if values is None:
            values = label_values(labels, self.rules.application_labels)
            if len(self._label_cache) < 10_000:
                self._label_cache[labels] = values
        return values

    def report(self, ref: DueRef, report: RefReport, now: float) -> PollResult:
        """The provider answered about this ref."""
        unchanged = self._unchanged(ref, report, now)
        if unchanged is not None:
            return unchanged
        state = RefState.load(ref.state)
        record = self.recorder(ref.labels)
        was_pending = not state.messages
        for observation in report.observations:
            self._observe(state, observation, ref, now, record)
        if was_pending and state.messages:
            record.left_pending()
        polls = ref.polls + 1
        finished = report.complete and bool(state.messages) and not self._still_open(state, now)
        return self._conclude(ref, state, record, now, polls, now, finished)

    def _unchanged(self, ref: DueRef, report: RefReport, now: float) -> PollResult | None:
        """The common case, without decoding the state: one open message, as it was.

        Most polls find a message where the last poll left it; its stored state
        is then exactly the text this observation would produce.
        """
        if len(report.observations) != 1:
            return None
        seen = report.observations[0]
        if seen.key or seen.read or seen.status in self.rules.final_statuses:
            return None
        key = (seen.status, seen.channel)
        expected = self._open_texts.get(key)
        if expected is None:
            channel = seen.channel if seen.channel in self.rules.channels else OTHER
            expected = RefState({"": MessageState(seen.status, channel)}).dump()
            self._open_texts[key] = expected
        schedule = self.rules.schedule
        window_end = ref.submitted_at + schedule.tracking_window
        if ref.state != expected or now >= window_end:
            return None
        polls = ref.polls + 1
        next_poll = min(now + schedule.interval_after(polls), window_end)
        return RefUpdate(ref.id, ref.state, polls, now, next_poll, None, state_changed=False), []

    def gone(self, ref: DueRef, error: RefNotFound | RefInvalid, now: float) -> PollResult:
        """The provider does not know the ref, or says it can never be valid."""
        state = RefState.load(ref.state)
        record = self.recorder(ref.labels)
        young = now - ref.submitted_at < self.rules.schedule.not_found_grace
        if isinstance(error, RefNotFound) and young:
            # Some APIs answer 404 for a moment after a send: ask again shortly.
            return self._conclude(ref, state, record, now, ref.polls + 1, now, finished=False)
        open_statuses = [
            m.status for m in state.messages.values() if m.status not in self.rules.final_statuses
        ]
        record.dropped(error.kind, open_statuses or ([] if state.messages else [Status.PENDING]))
        update = RefUpdate(ref.id, state.dump(), ref.polls + 1, now, None, now)
        return update, record.deltas

    def failed(self, ref: DueRef, now: float) -> PollResult:
        """The poll got no usable answer: try again later, keep what we knew."""
        state = RefState.load(ref.state)
        record = self.recorder(ref.labels)
        return self._conclude(ref, state, record, now, ref.polls, ref.last_poll_at, finished=False)

    def _conclude(
        self,
        ref: DueRef,
        state: RefState,
        record: OutcomeRecorder,
        now: float,
        polls: int,
        last_poll_at: float | None,
        finished: bool,
    ) -> PollResult:
        window_end = ref.submitted_at + self.rules.schedule.tracking_window
        if not finished and now >= window_end:
            self._expire(state, record)
            finished = True
        # Every change of state leaves a delta; without one the stored text still holds.
        changed = bool(record.deltas)
        dumped = (state.dump() if state.messages else "") if changed else ref.state
        if finished:
            return RefUpdate(ref.id, dumped, polls, last_poll_at, None, now), record.deltas
        next_poll = min(now + self.rules.schedule.interval_after(max(polls, 1)), window_end)
        update = RefUpdate(
            ref.id, dumped, polls, last_poll_at, next_poll, None, state_changed=changed
        )
        return update, record.deltas

    def _observe(
        self,
        state: RefState,
        seen: Observation,
        ref: DueRef,
        now: float,
        record: OutcomeRecorder,
    ) -> None:
        rules = self.rules
        final = rules.final_statuses
        channel = seen.channel if seen.channel in rules.channels else OTHER
        message = state.messages.get(seen.key)
        newly_final = False
        if message is None:
            message = state.messages[seen.key] = MessageState(seen.status, channel)
            record.appeared(seen.status)
            newly_final = seen.status in final
        elif message.status in final:
            if seen.status in final and seen.status is not message.status:
                record.contradiction()
        elif seen.status.rank > message.status.rank:
            record.moved(message.status, seen.status)
            message.status = seen.status
            newly_final = seen.status in final
        if newly_final:
            reason = seen.reason if seen.reason in rules.reasons else OTHER
            country = None if seen.country is None else country_label(seen.country)
            record.final(
                message.channel,
                seen.status,
                reason,
                seen.segments,
                seen.cost,
                seen.currency,
                country,
            )
            if seen.status is Status.DELIVERED:
                message.delivered_seen_at = now
                # A read receipt seen first hides when delivery happened.
                if not seen.read:
                    record.latency(message.channel, self._latency(seen, ref, now))
        if seen.read and message.channel in rules.read_channels and not message.read:
            message.read = True
            record.read(message.channel)

    @staticmethod
    def _latency(seen: Observation, ref: DueRef, now: float) -> float:
        if seen.accepted_at is not None and seen.changed_at is not None:
            return seen.changed_at - seen.accepted_at
        # Delivery happened between the last poll that did not see it and this one.
        last = max(ref.last_poll_at or ref.submitted_at, ref.submitted_at)
        start = seen.accepted_at if seen.accepted_at is not None else ref.submitted_at
        return (last + now) / 2 - start

    def _still_open(self, state: RefState, now: float) -> bool:
        window = self.rules.schedule.read_receipt_window
        for message in state.messages.values():
            if message.status not in self.rules.final_statuses:
                return True
            awaiting_read = (
                message.channel in self.rules.read_channels
                and message.status is Status.DELIVERED
                and not message.read
                and (message.delivered_seen_at or now) + window > now
            )
            if awaiting_read:
                return True
        return False

    def _expire(self, state: RefState, record: OutcomeRecorder) -> None:
        if not state.messages:
            state.messages[""] = MessageState(Status.PENDING, self.rules.channels[0])
        for message in state.messages.values():
            if message.status in self.rules.final_statuses:
                continue
            record.moved(message.status, Status.EXPIRED)
            message.status = Status.EXPIRED
            record.final(message.channel, Status.EXPIRED, None, None, None, None)

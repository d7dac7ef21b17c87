"""What one poll means: the state change of a ref, its next poll, and the deltas to count.

Pure functions of (ref as stored, provider answer, now): no I/O, so the rules
of the lifecycle (PROVIDERS.md, "Canonical statuses") are tested directly.
State is monotonic; a final status is counted once; a contradiction is
counted, never applied.

Latency. Where the provider has clocks, delivery latency is theirs. Otherwise
the exporter observes it: delivery happened between the last poll that got an
answer without it and the poll that saw it, and the midpoint is the estimate.
That estimate is only as good as the polls were on time: when the gap between
the two polls exceeds twice the interval the schedule planned, plus a second
(an outage, a pause, a backlog), the delivery is counted by cause in
``sms_delivery_latency_uncertain_total`` instead of the histogram:
``late_first_poll`` when there was no earlier answer, ``poll_gap`` otherwise,
``read_first`` when the first answer was already a read receipt.
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

UNCERTAINTY_FACTOR = 2.0
UNCERTAINTY_SLACK = 1.0
"""A latency is trusted when its poll gap is at most FACTOR x the planned interval + SLACK s."""


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
        interval = schedule.interval_after(polls)
        next_poll = min(now + interval, window_end)
        update = RefUpdate(
            ref.id,
            ref.state,
            polls,
            now,
            next_poll,
            None,
            state_changed=False,
            priority=self._priority(in_flight=True, interval=interval),
            version=ref.version,
        )
        return update, []

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
        self._end_read_waits(state, record, now, finished=True)
        update = RefUpdate(
            ref.id,
            state.dump(),
            ref.polls + 1,
            now,
            None,
            now,
            in_flight=False,
            version=ref.version,
        )
        return update, record.deltas

    def failed(self, ref: DueRef, now: float) -> PollResult:
        """The poll got no usable answer: try again later, keep what we knew.

        The wait is at least as long as the ref has gone without an answer, so a ref
        whose every poll fails is retried at doubling intervals (up to the schedule's
        cap) instead of at its old pace: an account answering only errors that do not
        pause it (402s, unreadable bodies) is not hammered at its full rate.
        """
        state = RefState.load(ref.state)
        record = self.recorder(ref.labels)
        answered_at = ref.submitted_at if ref.last_poll_at is None else ref.last_poll_at
        return self._conclude(
            ref,
            state,
            record,
            now,
            ref.polls,
            ref.last_poll_at,
            finished=False,
            wait_at_least=now - answered_at,
        )

    def _conclude(
        self,
        ref: DueRef,
        state: RefState,
        record: OutcomeRecorder,
        now: float,
        polls: int,
        last_poll_at: float | None,
        finished: bool,
        wait_at_least: float = 0.0,
    ) -> PollResult:
        schedule = self.rules.schedule
        window_end = ref.submitted_at + schedule.tracking_window
        if not finished and now >= window_end:
            self._expire(state, record)
            finished = True
        self._end_read_waits(state, record, now, finished=finished)
        # Every change of state leaves a delta; without one the stored text still holds.
        changed = bool(record.deltas)
        dumped = (state.dump() if state.messages else "") if changed else ref.state
        if finished:
            update = RefUpdate(
                ref.id, dumped, polls, last_poll_at, None, now, in_flight=False, version=ref.version
            )
            return update, record.deltas
        interval = max(
            schedule.interval_after(max(polls, 1)), min(wait_at_least, schedule.max_interval)
        )
        in_flight = self._in_flight(state)
        update = RefUpdate(
            ref.id,
            dumped,
            polls,
            last_poll_at,
            min(now + interval, window_end),
            None,
            state_changed=changed,
            priority=self._priority(in_flight=in_flight, interval=interval),
            in_flight=in_flight,
            version=ref.version,
        )
        return update, record.deltas

    def _in_flight(self, state: RefState) -> bool:
        """A message of the ref is not final (a ref nobody has seen yet is pending)."""
        final = self.rules.final_statuses
        return not state.messages or any(m.status not in final for m in state.messages.values())

    def _priority(self, *, in_flight: bool, interval: float) -> int:
        """0 for first polls and open messages; 1 for read-receipt waits and the long tail
        (polled at the longest interval): the account's budget serves 0 first."""
        long_tail = interval >= self.rules.schedule.max_interval
        return 0 if in_flight and not long_tail else 1

    def _end_read_waits(
        self, state: RefState, record: OutcomeRecorder, now: float, *, finished: bool
    ) -> None:
        """Read-receipt waits end when the ref is done with, or their window closes."""
        window = self.rules.schedule.read_receipt_window
        for message in state.messages.values():
            if message.awaiting_read and (
                finished or (message.delivered_seen_at or now) + window <= now
            ):
                message.awaiting_read = False
                record.awaiting_read(message.channel, -1)

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
                self._delivered(message, seen, ref, now, record)
        if seen.read and message.channel in rules.read_channels and not message.read:
            message.read = True
            record.read(message.channel)
            if message.awaiting_read:
                message.awaiting_read = False
                record.awaiting_read(message.channel, -1)

    def _delivered(
        self,
        message: MessageState,
        seen: Observation,
        ref: DueRef,
        now: float,
        record: OutcomeRecorder,
    ) -> None:
        """A delivery's latency, or why it has none; and a read-receipt wait where one comes."""
        if seen.read:
            # A read receipt seen first hides when delivery happened.
            record.uncertain_latency(message.channel, "read_first")
            return
        latency, cause = self._latency(seen, ref, now)
        if cause is None:
            record.latency(message.channel, latency)
        else:
            record.uncertain_latency(message.channel, cause)
        rules = self.rules
        if message.channel in rules.read_channels and rules.schedule.read_receipt_window > 0:
            message.awaiting_read = True
            record.awaiting_read(message.channel, 1)

    def _latency(self, seen: Observation, ref: DueRef, now: float) -> tuple[float, str | None]:
        """The latency, and the cause when it is too uncertain to observe (see the module doc)."""
        if seen.accepted_at is not None and seen.changed_at is not None:
            return seen.changed_at - seen.accepted_at, None
        # Delivery happened between the last poll that did not see it and this one.
        last = max(ref.last_poll_at or ref.submitted_at, ref.submitted_at)
        start = seen.accepted_at if seen.accepted_at is not None else ref.submitted_at
        estimate = (last + now) / 2 - start
        schedule = self.rules.schedule
        planned = schedule.first_poll if ref.polls == 0 else schedule.interval_after(ref.polls)
        if now - last > UNCERTAINTY_FACTOR * planned + UNCERTAINTY_SLACK:
            return estimate, "late_first_poll" if ref.polls == 0 else "poll_gap"
        return estimate, None

    def _still_open(self, state: RefState, now: float) -> bool:
        window = self.rules.schedule.read_receipt_window
        for message in state.messages.values():
            if message.status not in self.rules.final_statuses:
                return True
            if message.awaiting_read and (message.delivered_seen_at or now) + window > now:
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

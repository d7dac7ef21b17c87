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

Webhooks (:meth:`Tracker.pushed`) follow the same rules. A pushed delivery's
latency is the provider's clocks where the event has them, else from
submission to the event's time (or its arrival): a webhook is not a poll, so
its time is not a guess between two polls. A ref of one message that a
webhook makes final is finished and never polled again; a ref of several
(a D7 request) keeps one confirming poll, since only a poll says how many
messages it has (and their parts, cost and country, which its webhooks omit).
"""

from __future__ import annotations

from collections.abc import Sequence
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
    poll_ends_at: frozenset[Status] = frozenset()
    """Open statuses after which polls can learn nothing (sfmc_transactional's sent with push
    on): a message at one is polled again only when its tracking window closes."""
    details_by_poll: bool = False
    """Polls report parts or cost: a final by a webhook without them leaves them due."""
    confirm_after: float = 3.0
    """A ref of several messages all final by webhooks is polled this soon to confirm it."""


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

    def report(
        self, ref: DueRef, report: RefReport, now: float, *, source: str = "poll"
    ) -> PollResult:
        """The provider answered about this ref: a poll's answer, or (``source="discovery"``)
        a list answer that named it; a final status is counted by that source."""
        unchanged = self._unchanged(ref, report, now)
        if unchanged is not None:
            return unchanged
        state = RefState.load(ref.state)
        record = self.recorder(ref.labels)
        was_pending = not state.messages
        for observation in report.observations:
            self._observe(state, observation, ref, now, record, source=source)
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
        rules = self.rules
        if seen.key or seen.read or seen.status in rules.final_statuses:
            return None
        if seen.status in rules.poll_ends_at:
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

    def pushed(
        self,
        ref: DueRef,
        next_poll_at: float,
        events: Sequence[tuple[Observation, float]],
        now: float,
    ) -> PollResult:
        """Webhooks told of this open ref: (observation, when it was received) each, in order.

        Its polls are not counted: the safety-net schedule goes on, unless the
        ref is done with (one message, final) or needs only a confirming poll.
        """
        state = RefState.load(ref.state)
        record = self.recorder(ref.labels)
        was_pending = not state.messages
        for observation, received_at in events:
            self._observe(state, observation, ref, now, record, pushed_at=received_at)
        if was_pending and state.messages:
            record.left_pending()
        # Read-receipt waits whose window has closed end here too: the ref may be
        # finished now, and no poll would end them after that.
        self._end_read_waits(state, record, now, finished=False)
        changed = bool(record.deltas)
        dumped = state.dump() if changed else ref.state
        still_open = self._still_open(state, now)
        one_message = list(state.messages) == [""]
        if one_message and not still_open:
            update = RefUpdate(
                ref.id,
                dumped,
                ref.polls,
                ref.last_poll_at,
                None,
                now,
                in_flight=False,
                version=ref.version,
            )
            return update, record.deltas
        if state.messages and not still_open:
            # Only a poll tells how many messages the ref has, and what they cost.
            next_poll_at = min(next_poll_at, now + self.rules.confirm_after)
        interval = self.rules.schedule.interval_after(max(ref.polls, 1))
        update = self._open(ref, dumped, ref.polls, ref.last_poll_at, next_poll_at, state)
        update.state_changed = changed
        update.priority = self._priority(in_flight=update.in_flight, interval=interval)
        return update, record.deltas

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
        update, deltas = self._conclude(
            ref,
            state,
            record,
            now,
            ref.polls,
            ref.last_poll_at,
            finished=False,
            wait_at_least=now - answered_at,
        )
        confirm = self.rules.confirm_after
        waiting = update.next_poll_at is not None and bool(state.messages)
        if confirm and waiting and not self._still_open(state, now):
            # A confirming poll that failed is tried again as soon, not at the safety net's.
            update.next_poll_at = min(update.next_poll_at or now, now + confirm)
        return update, deltas

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
        next_poll_at = min(now + interval, window_end)
        if self._polls_learn_nothing(state):
            next_poll_at = window_end
        update = self._open(ref, dumped, polls, last_poll_at, next_poll_at, state)
        update.state_changed = changed
        update.priority = self._priority(in_flight=update.in_flight, interval=interval)
        return update, record.deltas

    def _open(
        self,
        ref: DueRef,
        state_text: str,
        polls: int,
        last_poll_at: float | None,
        next_poll_at: float,
        state: RefState,
    ) -> RefUpdate:
        """A ref that stays open, polled again at ``next_poll_at``."""
        return RefUpdate(
            ref.id,
            state_text,
            polls,
            last_poll_at,
            next_poll_at,
            None,
            in_flight=self._in_flight(state),
            version=ref.version,
        )

    def _polls_learn_nothing(self, state: RefState) -> bool:
        """Every open message is where polls stop (while webhooks may still tell more)."""
        ends = self.rules.poll_ends_at
        final = self.rules.final_statuses
        open_statuses = [m.status for m in state.messages.values() if m.status not in final]
        return bool(ends) and bool(open_statuses) and all(s in ends for s in open_statuses)

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
        pushed_at: float | None = None,
        source: str = "poll",
    ) -> None:
        """One message's news: from a poll (or a list answer, ``source``) at ``now``, or a
        webhook received at ``pushed_at``."""
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
            elif message.details_due and pushed_at is None and seen.status is message.status:
                message.details_due = False
                record.details(
                    message.channel,
                    seen.status,
                    seen.segments,
                    seen.cost,
                    seen.currency,
                    _country(seen),
                )
        elif seen.status.rank > message.status.rank:
            record.moved(message.status, seen.status)
            message.status = seen.status
            newly_final = seen.status in final
        if newly_final:
            reason = seen.reason if seen.reason in rules.reasons else OTHER
            record.final(
                message.channel,
                seen.status,
                reason,
                seen.segments,
                seen.cost,
                seen.currency,
                _country(seen),
                source=source if pushed_at is None else "push",
            )
            message.details_due = (
                pushed_at is not None
                and rules.details_by_poll
                and seen.segments is None
                and seen.cost is None
            )
            if seen.status is Status.DELIVERED:
                message.delivered_seen_at = now
                self._delivered(message, seen, ref, now, record, pushed_at)
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
        pushed_at: float | None,
    ) -> None:
        """A delivery's latency, or why it has none; and a read-receipt wait where one comes."""
        if seen.read:
            # A read receipt seen first hides when delivery happened.
            record.uncertain_latency(message.channel, "read_first")
            return
        if pushed_at is not None:
            latency, cause = self._pushed_latency(seen, ref, pushed_at), None
        else:
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

    @staticmethod
    def _pushed_latency(seen: Observation, ref: DueRef, pushed_at: float) -> float:
        """The provider's clocks, else submission to the event's time (or its arrival)."""
        start = seen.accepted_at if seen.accepted_at is not None else ref.submitted_at
        end = seen.changed_at if seen.changed_at is not None else pushed_at
        return end - start

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
            record.final(message.channel, Status.EXPIRED, None, None, None, None, source="expiry")


def _country(seen: Observation) -> str | None:
    return None if seen.country is None else country_label(seen.country)

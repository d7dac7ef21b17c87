"""Webhooks applied to refs (:meth:`Tracker.pushed`), tested directly on the tracker.

What a webhook does to a ref: a ref of one message made final is finished and
never polled again; a ref of several messages all final gets one confirming poll
``confirm_after`` later (and a failed confirming poll is retried as soon); a ref
still open keeps its safety-net schedule. What it counts: finals by source
(push, poll, expiry), latency from the provider's clocks or the event's arrival
(never a guess between polls), read-receipt waits, and the parts, cost and
country that only the confirming poll tells, counted once. And sfmc_transactional
with push on: a message at ``sent`` is polled again only at the end of its window.
The end-to-end path (HTTP, inbox, store) is tests/test_push.py.
"""

from __future__ import annotations

import pytest

from sms_delivery_exporter.api import (
    FINAL_STATUSES,
    Observation,
    RefNotFound,
    RefReport,
    Status,
)
from sms_delivery_exporter.outcomes.catalogue import (
    AWAITING_READ,
    COST,
    FINAL,
    FINAL_BY_COUNTRY,
    FINAL_BY_SOURCE,
    IN_FLIGHT,
    LATENCY_BUCKET,
    LATENCY_SUM,
    LATENCY_UNCERTAIN,
    READ,
    SEGMENTS,
)
from sms_delivery_exporter.polling.ref_state import RefState
from sms_delivery_exporter.polling.tracker import Tracker
from sms_delivery_exporter.store import DueRef, RefUpdate
from tests.test_tracking import SCHEDULE, T0, Ref, message, seen, tracker

CONFIRM = 10.0
SAFETY_NET = T0 + 300
"""The ref's next poll as the safety-net schedule set it (what ``pushed`` is given)."""


def push_tracker(**changes: object) -> Tracker:
    return tracker(confirm_after=CONFIRM, **changes)


def event(
    key: str, status: Status, received_at: float, **fields: object
) -> tuple[Observation, float]:
    return message(key, status, **fields), received_at


def push(
    ref: Ref,
    track: Tracker,
    events: list[tuple[Observation, float]],
    now: float,
    next_poll_at: float = SAFETY_NET,
) -> RefUpdate:
    return ref.apply(track.pushed(ref.row, next_poll_at, events, now))


def statuses(update: RefUpdate) -> dict[str, Status]:
    return {key: m.status for key, m in RefState.load(update.state).messages.items()}


def in_flight(ref: Ref) -> float:
    return sum(v for (n, _), v in ref.counts.items() if n == IN_FLIGHT)


class TestOneMessage:
    """A ref of one message: final by a webhook is finished; open keeps its safety net."""

    def test_final_by_push_finishes_the_ref(self) -> None:
        ref, track = Ref(), push_tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))
        update = push(ref, track, [event("", Status.DELIVERED, T0 + 2)], T0 + 2.5)
        assert (update.next_poll_at, update.finished_at, update.in_flight) == (
            None,
            T0 + 2.5,
            False,
        )
        # A webhook is not a poll: the last answer of a poll still bounds later estimates.
        assert (update.polls, update.last_poll_at) == (1, T0 + 1)
        assert statuses(update) == {"": Status.DELIVERED}
        assert ref.total(FINAL, "sms", "delivered") == 1
        assert ref.total(FINAL_BY_SOURCE, "push") == 1 and ref.total(FINAL_BY_SOURCE, "poll") == 0
        assert in_flight(ref) == 0

    def test_a_ref_first_heard_of_by_push_leaves_pending(self) -> None:
        ref, track = Ref(), push_tracker()
        update = push(ref, track, [event("", Status.REJECTED, T0 + 2, reason="spam")], T0 + 3)
        assert update.next_poll_at is None
        assert ref.total(IN_FLIGHT, "pending") == 0 and in_flight(ref) == 0
        assert ref.total(FINAL, "rejected") == 1

    def test_an_open_status_keeps_the_safety_net_schedule(self) -> None:
        ref, track = Ref(), push_tracker()
        ref.apply(track.report(ref.row, seen(Status.QUEUED), T0 + 1))
        update = push(ref, track, [event("", Status.SENT, T0 + 2)], T0 + 2)
        assert update.next_poll_at == SAFETY_NET and update.finished_at is None
        assert (update.state_changed, update.in_flight, update.priority) == (True, True, 0)
        assert (update.polls, update.last_poll_at) == (1, T0 + 1)
        assert statuses(update) == {"": Status.SENT}
        assert ref.total(IN_FLIGHT, "sent") == 1 and ref.total(IN_FLIGHT, "queued") == 0
        # The same event again (a provider redelivering it) changes nothing, writes nothing.
        before = update.state
        update = push(ref, track, [event("", Status.SENT, T0 + 4)], T0 + 4)
        assert (update.state_changed, update.state, update.next_poll_at) == (
            False,
            before,
            SAFETY_NET,
        )
        assert ref.total(IN_FLIGHT, "sent") == 1

    def test_a_long_tail_ref_stays_behind_fresher_ones(self) -> None:
        ref, track = Ref(), push_tracker()
        ref.row = DueRef(1, ref.row.ref_key, "", T0, 9, T0 + 500, '{"":["queued","sms",0,null]}')
        update = push(ref, track, [event("", Status.SENT, T0 + 510)], T0 + 510)
        assert (update.in_flight, update.priority) == (True, 1)  # polled at the longest interval

    def test_a_webhook_keeps_the_priority_the_last_poll_gave(self) -> None:
        # Polled once, its interval (2 s) is under the cap; after two polls it would reach it.
        schedule = SCHEDULE.model_copy(update={"max_interval": 3})
        ref, track = Ref(), push_tracker(schedule=schedule)
        polled = ref.apply(track.report(ref.row, seen(Status.QUEUED), T0 + 1))
        update = push(ref, track, [event("", Status.SENT, T0 + 2)], T0 + 2)
        assert update.priority == polled.priority == 0

    def test_the_version_read_is_kept(self) -> None:
        """A shared store applies an update only at the version it was read at."""
        track = push_tracker()
        row = DueRef(1, '{"id":"x"}', "", T0, 1, T0 + 1, '{"":["sent","sms",0,null]}', version=7)
        for status in (Status.SENT, Status.DELIVERED):
            update, _ = track.pushed(row, SAFETY_NET, [event("", status, T0 + 2)], T0 + 2)
            assert update.version == 7


class TestReadReceiptsByPush:
    """A delivered RCS message waits for its read receipt; the wait ends once."""

    def test_delivered_waits_then_read_finishes(self) -> None:
        ref, track = Ref(), push_tracker()
        update = push(ref, track, [event("", Status.DELIVERED, T0 + 2, channel="rcs")], T0 + 2)
        assert update.next_poll_at == SAFETY_NET and update.finished_at is None
        assert (update.in_flight, update.priority) == (False, 1)
        assert ref.total(AWAITING_READ, "rcs") == 1
        update = push(
            ref, track, [event("", Status.DELIVERED, T0 + 9, channel="rcs", read=True)], T0 + 9
        )
        assert update.next_poll_at is None
        assert ref.total(READ, "rcs") == 1 and ref.total(AWAITING_READ, "rcs") == 0

    def test_no_wait_without_a_window(self) -> None:
        schedule = SCHEDULE.model_copy(update={"read_receipt_window": 0})
        ref, track = Ref(), push_tracker(schedule=schedule)
        update = push(ref, track, [event("", Status.DELIVERED, T0 + 2, channel="rcs")], T0 + 2)
        assert update.next_poll_at is None
        assert ref.total(AWAITING_READ) == 0

    def test_a_read_receipt_by_push_keeps_the_parts_due(self) -> None:
        """Parts still due (a D7 request) and a read wait ending together are both kept."""
        ref, track = Ref(), push_tracker(details_by_poll=True)
        rcs = {"channel": "rcs"}
        push(ref, track, [event("a", Status.DELIVERED, T0 + 2, **rcs)], T0 + 2)
        push(ref, track, [event("a", Status.DELIVERED, T0 + 5, read=True, **rcs)], T0 + 5)
        assert ref.total(READ, "rcs") == 1 and ref.total(AWAITING_READ, "rcs") == 0
        polled = RefReport([message("a", Status.DELIVERED, segments=2, read=True, **rcs)])
        ref.apply(track.report(ref.row, polled, T0 + 15))
        assert ref.total(SEGMENTS, "rcs") == 2 and ref.total(READ, "rcs") == 1

    def test_a_drop_ends_the_wait_of_a_message_with_parts_due(self) -> None:
        ref, track = Ref(), push_tracker(details_by_poll=True)
        push(ref, track, [event("a", Status.DELIVERED, T0 + 2, channel="rcs")], T0 + 2)
        update = ref.apply(track.gone(ref.row, RefNotFound("gone"), T0 + 120))
        assert update.next_poll_at is None
        assert ref.total(AWAITING_READ, "rcs") == 0


class TestPushedLatency:
    """The provider's clocks, else submission to the event's time, else to its arrival."""

    @pytest.mark.parametrize(
        ("accepted_at", "changed_at", "latency"),
        [(T0 - 2, T0 + 5, 7), (None, T0 + 5, 5), (T0 - 2, None, 9), (None, None, 7)],
    )
    def test_latency(
        self, accepted_at: float | None, changed_at: float | None, latency: float
    ) -> None:
        ref, track = Ref(), push_tracker()
        clocks = {"accepted_at": accepted_at, "changed_at": changed_at}
        push(ref, track, [event("", Status.DELIVERED, T0 + 7, **clocks)], T0 + 8)
        assert ref.total(LATENCY_SUM) == latency
        assert ref.total(LATENCY_BUCKET) == 1

    def test_a_late_webhook_is_not_an_uncertain_poll(self) -> None:
        ref, track = Ref(), push_tracker()
        push(ref, track, [event("", Status.DELIVERED, T0 + 40)], T0 + 41)
        assert ref.total(LATENCY_SUM) == 40 and ref.total(LATENCY_UNCERTAIN) == 0


class TestSeveralMessages:
    """A D7 request: all final by webhooks, it is polled once more to confirm it."""

    def polled(self, track: Tracker) -> Ref:
        ref = Ref()
        report = RefReport([message("a", Status.SENT), message("b", Status.SENT)])
        ref.apply(track.report(ref.row, report, T0 + 1))
        return ref

    def test_all_final_gets_a_confirming_poll(self) -> None:
        track = push_tracker()
        ref = self.polled(track)
        update = push(ref, track, [event("a", Status.DELIVERED, T0 + 19)], T0 + 20)
        assert update.next_poll_at == SAFETY_NET  # "b" still open: the safety net holds
        update = push(ref, track, [event("b", Status.UNDELIVERED, T0 + 21)], T0 + 22)
        assert update.next_poll_at == T0 + 22 + CONFIRM and update.finished_at is None
        assert update.in_flight is False
        assert statuses(update) == {"a": Status.DELIVERED, "b": Status.UNDELIVERED}
        assert ref.total(FINAL_BY_SOURCE, "push") == 2

    def test_a_sooner_safety_net_poll_is_kept(self) -> None:
        track = push_tracker()
        ref = self.polled(track)
        events = [event("a", Status.DELIVERED, T0 + 19), event("b", Status.DELIVERED, T0 + 19)]
        update = push(ref, track, events, T0 + 20, next_poll_at=T0 + 25)
        assert update.next_poll_at == T0 + 25

    def test_the_confirming_poll_counts_parts_cost_and_country_once(self) -> None:
        track = push_tracker(details_by_poll=True)
        ref = self.polled(track)
        events = [event("a", Status.DELIVERED, T0 + 19), event("b", Status.DELIVERED, T0 + 19)]
        push(ref, track, events, T0 + 20)
        # A redelivered webhook, without parts either, leaves them due.
        push(ref, track, [event("a", Status.DELIVERED, T0 + 25)], T0 + 25)
        assert ref.total(SEGMENTS) == 0 and ref.total(FINAL_BY_COUNTRY) == 0
        billed = {"cost": 0.05, "currency": "EUR", "country": "IT"}
        confirm = RefReport(
            [
                message("a", Status.DELIVERED, segments=2, **billed),
                message("b", Status.DELIVERED, segments=1, **billed),
            ]
        )
        update = ref.apply(track.report(ref.row, confirm, T0 + 30))
        assert update.next_poll_at is None
        assert ref.total(SEGMENTS) == 3
        assert ref.total(COST, "EUR") == pytest.approx(0.10)
        assert ref.total(FINAL_BY_COUNTRY, "IT", "delivered") == 2
        assert ref.total(FINAL, "delivered") == 2 and ref.total(FINAL_BY_SOURCE, "poll") == 0
        ref.apply(track.report(ref.row, confirm, T0 + 31))  # answered again: nothing more
        assert ref.total(SEGMENTS) == 3 and ref.total(FINAL_BY_COUNTRY) == 2

    def test_parts_told_by_the_webhook_are_not_counted_again(self) -> None:
        track = push_tracker(details_by_poll=True)
        ref = self.polled(track)
        events = [
            event("a", Status.DELIVERED, T0 + 19, segments=2),
            event("b", Status.DELIVERED, T0 + 19, cost=0.05, currency="EUR"),
        ]
        push(ref, track, events, T0 + 20)
        confirm = RefReport(
            [
                message("a", Status.DELIVERED, segments=2),
                message("b", Status.DELIVERED, cost=0.05, currency="EUR"),
            ]
        )
        ref.apply(track.report(ref.row, confirm, T0 + 30))
        assert ref.total(SEGMENTS) == 2 and ref.total(COST) == pytest.approx(0.05)

    def test_finals_by_poll_leave_no_parts_due(self) -> None:
        """Parts a poll told with the final status are counted then, not at later polls."""
        track = push_tracker(details_by_poll=True)
        ref = Ref()
        report = RefReport([message("a", Status.DELIVERED, segments=2), message("b", Status.SENT)])
        for when in (T0 + 1, T0 + 3, T0 + 7):  # "b" keeps the request polled
            ref.apply(track.report(ref.row, report, when))
        assert ref.total(SEGMENTS) == 2 and ref.total(FINAL_BY_SOURCE, "poll") == 1


class TestFailedConfirmingPoll:
    """A confirming poll that fails is tried again ``confirm_after`` later, not at the safety
    net's backoff; other failed polls back off as they always did."""

    def test_retried_as_soon(self) -> None:
        track = push_tracker()
        ref = TestSeveralMessages().polled(track)
        events = [event("a", Status.DELIVERED, T0 + 19), event("b", Status.DELIVERED, T0 + 19)]
        push(ref, track, events, T0 + 20)
        update = ref.apply(track.failed(ref.row, T0 + 30))
        assert update.next_poll_at == T0 + 30 + CONFIRM
        assert (update.polls, update.last_poll_at) == (1, T0 + 1)

    def test_an_open_request_backs_off(self) -> None:
        track = push_tracker()
        ref = TestSeveralMessages().polled(track)
        update = ref.apply(track.failed(ref.row, T0 + 30))
        assert update.next_poll_at == T0 + 30 + 29  # as long as it went without an answer

    def test_without_push_a_request_still_listing_messages_backs_off(self) -> None:
        """No confirming poll without push (confirm_after 0): no retry at once either."""
        ref, track = Ref(), tracker(confirm_after=0.0)
        listing = RefReport([message("a", Status.DELIVERED)], complete=False)
        ref.apply(track.report(ref.row, listing, T0 + 1))
        update = ref.apply(track.failed(ref.row, T0 + 3))
        assert update.next_poll_at == T0 + 5


class TestPollsEndAtSent:
    """sfmc_transactional with push: its polled API ends at sent, its webhooks do not."""

    def sfmc(self) -> Tracker:
        return push_tracker(poll_ends_at=frozenset({Status.SENT}), final_statuses=FINAL_STATUSES)

    def test_sent_is_polled_again_only_at_the_window_end(self) -> None:
        ref, track = Ref(), self.sfmc()
        update = ref.apply(track.report(ref.row, seen(Status.QUEUED), T0 + 1))
        assert update.next_poll_at == T0 + 3  # before sent, polls can still tell something
        update = ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 3))
        assert update.next_poll_at == T0 + 3600 and update.in_flight
        update = ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 50))
        assert update.next_poll_at == T0 + 3600
        update = push(ref, track, [event("", Status.DELIVERED, T0 + 60)], T0 + 60)
        assert update.next_poll_at is None
        assert ref.total(FINAL_BY_SOURCE, "push") == 1

    def test_a_request_with_a_message_before_sent_is_polled_on(self) -> None:
        ref, track = Ref(), self.sfmc()
        report = RefReport([message("a", Status.SENT), message("b", Status.QUEUED)])
        update = ref.apply(track.report(ref.row, report, T0 + 1))
        assert update.next_poll_at == T0 + 3


def test_a_late_webhook_ends_a_read_wait_past_its_window() -> None:
    ref, track = Ref(), push_tracker()
    ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 1))
    # The delivery redelivered after the 600 s window, before the poll that would end it.
    update = push(ref, track, [event("", Status.DELIVERED, T0 + 650, channel="rcs")], T0 + 650)
    assert update.next_poll_at is None
    assert ref.total(AWAITING_READ, "rcs") == 0

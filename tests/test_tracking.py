"""The lifecycle rules applied to one ref: monotonic, counted once, latency, read, expiry."""

from __future__ import annotations

from collections import defaultdict

import pytest

from sms_delivery_exporter.api import (
    Observation,
    RefInvalid,
    RefNotFound,
    RefReport,
    ScheduleSettings,
    Status,
)
from sms_delivery_exporter.outcomes.catalogue import (
    AWAITING_READ,
    CONTRADICTIONS,
    DROPPED,
    FAILURES,
    FINAL,
    FINAL_BY_SOURCE,
    IN_FLIGHT,
    LATENCY_BUCKET,
    LATENCY_SUM,
    LATENCY_UNCERTAIN,
    READ,
    SEGMENTS,
    Delta,
)
from sms_delivery_exporter.polling.ref_state import MessageState, RefState
from sms_delivery_exporter.polling.tracker import AccountRules, Tracker
from sms_delivery_exporter.store import DueRef, RefUpdate

T0 = 1_790_000_000.0
SCHEDULE = ScheduleSettings(
    first_poll=1,
    initial_interval=2,
    growth=2,
    max_interval=60,
    tracking_window=3600,
    not_found_grace=30,
    read_receipt_window=600,
)


def tracker(**changes: object) -> Tracker:
    rules = AccountRules(
        provider="namirial",
        account="eu",
        schedule=SCHEDULE,
        reasons=frozenset({"spam"}),
        channels=("sms", "rcs"),
        read_channels=frozenset({"rcs"}),
    )
    return Tracker(rules if not changes else AccountRules(**{**rules.__dict__, **changes}))


class Ref:
    """A ref carried through successive polls, as the store would."""

    def __init__(self, submitted_at: float = T0) -> None:
        self.row = DueRef(1, '{"id":"x"}', "", submitted_at, 0, None, "")
        self.counts: dict[tuple[str, tuple[str, ...]], float] = defaultdict(float)
        self.counts[(IN_FLIGHT, ("namirial", "eu", "pending"))] = 1  # as intake leaves it
        self.update: RefUpdate | None = None

    def apply(self, result: tuple[RefUpdate, list[Delta]]) -> RefUpdate:
        update, deltas = result
        for name, labels, amount in deltas:
            self.counts[(name, labels)] += amount
        self.row = DueRef(
            1,
            self.row.ref_key,
            "",
            self.row.submitted_at,
            update.polls,
            update.last_poll_at,
            update.state,
        )
        self.update = update
        return update

    def total(self, name: str, *labels: str) -> float:
        return sum(v for (n, ls), v in self.counts.items() if n == name and set(labels) <= set(ls))


def seen(status: Status, **fields: object) -> RefReport:
    return RefReport([Observation(key="", status=status, provider_status=status.value, **fields)])  # type: ignore[arg-type]


class TestCountingOnce:
    """A final status is counted once; later answers cannot move it."""

    def test_lifecycle_to_delivered(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.QUEUED), T0 + 1))
        assert ref.total(IN_FLIGHT, "queued") == 1 and ref.total(IN_FLIGHT, "pending") == 0
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 3))
        update = ref.apply(track.report(ref.row, seen(Status.DELIVERED, segments=2), T0 + 7))
        assert update.next_poll_at is None and update.finished_at == T0 + 7
        assert ref.total(FINAL, "delivered") == 1
        assert ref.total(SEGMENTS) == 2
        assert sum(v for (n, _), v in ref.counts.items() if n == IN_FLIGHT) == 0

    def test_repeated_final_answers_count_nothing_more(self) -> None:
        ref, track = Ref(), tracker(read_channels=frozenset())
        ref.apply(track.report(ref.row, seen(Status.REJECTED, reason="spam"), T0 + 1))
        ref.apply(track.report(ref.row, seen(Status.REJECTED, reason="spam"), T0 + 2))
        assert ref.total(FINAL, "rejected") == 1
        assert ref.total(FAILURES, "rejected", "spam") == 1

    def test_contradiction_is_counted_not_applied(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.UNDELIVERED, reason="spam"), T0 + 1))
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 2))
        assert ref.total(FINAL, "delivered") == 0
        assert ref.total(FINAL, "undelivered") == 1
        assert ref.total(CONTRADICTIONS) == 1

    def test_status_never_moves_back(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))
        ref.apply(track.report(ref.row, seen(Status.QUEUED), T0 + 2))
        assert ref.total(IN_FLIGHT, "sent") == 1 and ref.total(IN_FLIGHT, "queued") == 0
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 4))
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 5))
        # A late, earlier status is the provider catching up, not a contradiction.
        assert ref.total(CONTRADICTIONS) == 0 and ref.total(FINAL, "delivered") == 1

    def test_unknown_reason_becomes_other(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.UNDELIVERED, reason="made-up"), T0 + 1))
        assert ref.total(FAILURES, "undelivered", "other") == 1


class TestLatency:
    """Latency from provider clocks when given, else the midpoint of two polls."""

    def test_provider_clocks(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(
            track.report(
                ref.row, seen(Status.DELIVERED, accepted_at=T0, changed_at=T0 + 12), T0 + 60
            )
        )
        assert ref.total(LATENCY_SUM) == 12
        assert ref.total(LATENCY_BUCKET, "15.0") == 1

    def test_midpoint_of_polls(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))  # first poll, on time
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 3))  # 2 s later, as planned
        assert ref.total(LATENCY_SUM) == 2
        assert ref.total(LATENCY_UNCERTAIN) == 0

    def test_first_poll_bounded_by_submission(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 1))
        assert ref.total(LATENCY_SUM) == 0.5


class TestHonestLatency:
    """A delivery seen after a gap far longer than the schedule planned is not a latency."""

    def test_late_first_poll(self) -> None:
        ref, track = Ref(), tracker()
        # Planned 1 s after submission; 3 s is still on time (2 x planned + 1 s), 3.5 s is not.
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 3.5))
        assert ref.total(LATENCY_BUCKET) == 0 and ref.total(LATENCY_SUM) == 0
        assert ref.total(LATENCY_UNCERTAIN, "sms", "late_first_poll") == 1
        assert ref.total(FINAL, "delivered") == 1  # still counted as delivered

    def test_on_time_at_the_bound(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 3))
        assert ref.total(LATENCY_BUCKET) == 1 and ref.total(LATENCY_UNCERTAIN) == 0

    def test_gap_after_an_outage(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))
        for failed_at in (T0 + 3, T0 + 5, T0 + 9):  # the API is down: no answers
            ref.apply(track.failed(ref.row, failed_at))
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 20))
        assert ref.total(LATENCY_BUCKET) == 0
        assert ref.total(LATENCY_UNCERTAIN, "sms", "poll_gap") == 1

    def test_one_missed_poll_is_still_on_time(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))
        ref.apply(track.failed(ref.row, T0 + 3))
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 5))
        # Between the answer at 1 s and the one at 5 s: 3 s.
        assert ref.total(LATENCY_SUM) == 3 and ref.total(LATENCY_UNCERTAIN) == 0

    def test_provider_clocks_are_never_uncertain(self) -> None:
        ref, track = Ref(), tracker()
        late = seen(Status.DELIVERED, accepted_at=T0, changed_at=T0 + 4)
        ref.apply(track.report(ref.row, late, T0 + 3600))
        assert ref.total(LATENCY_SUM) == 4 and ref.total(LATENCY_UNCERTAIN) == 0

    def test_read_seen_first_records_no_latency(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(
            track.report(
                ref.row,
                seen(
                    Status.DELIVERED, channel="rcs", read=True, accepted_at=T0, changed_at=T0 + 30
                ),
                T0 + 40,
            )
        )
        assert ref.total(FINAL, "delivered") == 1
        assert ref.total(READ, "rcs") == 1
        assert ref.total(LATENCY_BUCKET) == 0
        assert ref.total(LATENCY_UNCERTAIN, "rcs", "read_first") == 1


class TestReadReceipts:
    """Delivered RCS is polled on for its read receipt, within a window."""

    def test_polled_until_read(self) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 1))
        # Still polled, but no longer in flight: a read-receipt wait, served after open messages.
        assert update.next_poll_at is not None
        assert (update.in_flight, update.priority) == (False, 1)
        assert ref.total(AWAITING_READ, "rcs") == 1
        assert ref.total(IN_FLIGHT) == 0
        update = ref.apply(
            track.report(ref.row, seen(Status.DELIVERED, channel="rcs", read=True), T0 + 9)
        )
        assert update.next_poll_at is None
        assert ref.total(READ, "rcs") == 1
        assert ref.total(LATENCY_BUCKET) == 1
        assert ref.total(AWAITING_READ, "rcs") == 0

    def test_gives_up_after_window(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 5))
        assert ref.total(AWAITING_READ, "rcs") == 1
        update = ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 700))
        assert update.next_poll_at is None
        assert ref.total(FINAL, "expired") == 0
        assert ref.total(AWAITING_READ, "rcs") == 0

    def test_dropped_while_waiting_ends_the_wait(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 1))
        ref.apply(track.gone(ref.row, RefNotFound("gone"), T0 + 120))
        assert ref.total(AWAITING_READ, "rcs") == 0
        assert ref.total(DROPPED) == 1

    def test_sms_is_not_polled_for_reads(self) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 5))
        assert update.next_poll_at is None


class TestSchedule:
    """Intervals grow, capped, and never pass the tracking window."""

    def test_intervals_grow_to_the_cap(self) -> None:
        ref, track = Ref(), tracker()
        now, gaps, priorities = T0, [], []
        for _ in range(8):
            now += 1
            update = ref.apply(track.report(ref.row, seen(Status.SENT), now))
            assert update.next_poll_at is not None and update.in_flight
            gaps.append(update.next_poll_at - now)
            priorities.append(update.priority)
            now = update.next_poll_at
        assert gaps == [2, 4, 8, 16, 32, 60, 60, 60]
        # At the longest interval a message is the long tail: polled after fresher ones.
        assert priorities == [0, 0, 0, 0, 0, 1, 1, 1]

    def test_expiry_at_window_end(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 3599))
        assert ref.update is not None and ref.update.next_poll_at == T0 + 3600
        update = ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 3600))
        assert update.next_poll_at is None
        assert ref.total(FINAL, "sms", "expired") == 1
        assert ref.total(IN_FLIGHT, "sent") == 0

    def test_never_seen_ref_expires_as_one_message(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.gone(ref.row, RefNotFound("x"), T0 + 10))  # young: retried
        ref.apply(track.failed(ref.row, T0 + 3700))
        assert ref.total(FINAL, "sms", "expired") == 1  # on the provider's first channel
        assert ref.total(IN_FLIGHT, "pending") == 0

    def test_failing_polls_back_off_to_the_cap(self) -> None:
        """Every poll of a ref fails (a 402 does not pause the account): each retry waits
        as long as the ref has gone without an answer, so the calls thin out."""
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))  # next in 2 s
        now, gaps = T0 + 3, []
        for _ in range(7):
            update = ref.apply(track.failed(ref.row, now))
            assert update.next_poll_at is not None and update.polls == 1
            gaps.append(update.next_poll_at - now)
            now = update.next_poll_at
        assert gaps == [2, 4, 8, 16, 32, 60, 60]
        # The first answer after them puts the ref back on its schedule.
        update = ref.apply(track.report(ref.row, seen(Status.SENT), now))
        assert update.next_poll_at == now + 4

    def test_a_never_answered_ref_backs_off_from_its_submission(self) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.failed(ref.row, T0 + 10))
        assert update.next_poll_at == T0 + 20


class TestGone:
    """404 within the grace period retries; after it, and on invalid refs, the ref is dropped."""

    def test_not_found_while_young_retries(self) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.gone(ref.row, RefNotFound("x"), T0 + 5))
        assert update.next_poll_at is not None
        assert ref.total(DROPPED) == 0

    @pytest.mark.parametrize(("error", "when"), [(RefNotFound("x"), 31), (RefInvalid("x"), 1)])
    def test_dropped_and_counted(self, error: RefNotFound | RefInvalid, when: float) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.gone(ref.row, error, T0 + when))
        assert update.next_poll_at is None
        assert ref.total(DROPPED, error.kind) == 1
        assert ref.total(IN_FLIGHT, "pending") == 0

    def test_transient_failure_keeps_last_poll_for_latency(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))
        update = ref.apply(track.failed(ref.row, T0 + 3))
        assert update.last_poll_at == T0 + 1 and update.polls == 1
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 5))
        assert ref.total(LATENCY_SUM) == 3


class TestProviderFinalStatuses:
    """Where an API reports nothing after sent, sent is final and leaves the in-flight gauge."""

    def test_sent_final(self) -> None:
        from sms_delivery_exporter.api import FINAL_STATUSES

        ref, track = Ref(), tracker(final_statuses=FINAL_STATUSES | {Status.SENT})
        ref.apply(track.report(ref.row, seen(Status.QUEUED), T0 + 1))
        update = ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 2))
        assert update.next_poll_at is None
        assert ref.total(FINAL, "sent") == 1
        assert sum(v for (n, _), v in ref.counts.items() if n == IN_FLIGHT) == 0
        assert ref.total(LATENCY_BUCKET) == 0


class TestCountry:
    """Countries are counted under ISO codes only."""

    @pytest.mark.parametrize(
        ("given", "label"),
        [("ae", "AE"), ("GB", "GB"), ("ZZ", "other"), ("Italy", "other"), ("", "other")],
    )
    def test_bounded(self, given: str, label: str) -> None:
        from sms_delivery_exporter.outcomes.catalogue import FINAL_BY_COUNTRY

        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED, country=given), T0 + 1))
        assert ref.total(FINAL_BY_COUNTRY, label, "delivered") == 1

    def test_absent_country_not_counted(self) -> None:
        from sms_delivery_exporter.outcomes.catalogue import FINAL_BY_COUNTRY

        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED), T0 + 1))
        assert ref.total(FINAL_BY_COUNTRY) == 0


def two(first: Observation, second: Observation) -> RefReport:
    return RefReport([first, second])


def message(key: str, status: Status, **fields: object) -> Observation:
    return Observation(key=key, status=status, provider_status=status.value, **fields)  # type: ignore[arg-type]


class TestRefsOfSeveralMessages:
    """A ref with several messages (a d7 request, a MobileConnect send): each counted on its own."""

    def test_expiry_reaches_every_open_message(self) -> None:
        ref, track = Ref(), tracker()
        report = two(message("a", Status.DELIVERED), message("b", Status.SENT))
        ref.apply(track.report(ref.row, report, T0 + 1))
        ref.apply(track.report(ref.row, report, T0 + 3600))
        assert ref.total(FINAL, "delivered") == 1 and ref.total(FINAL, "expired") == 1
        assert ref.total(IN_FLIGHT) == 0

    def test_a_drop_takes_only_the_open_messages_out_of_flight(self) -> None:
        ref, track = Ref(), tracker()
        report = two(message("a", Status.DELIVERED), message("b", Status.SENT))
        ref.apply(track.report(ref.row, report, T0 + 1))
        ref.apply(track.gone(ref.row, RefNotFound("gone"), T0 + 120))
        assert ref.total(IN_FLIGHT, "sent") == 0 and ref.total(IN_FLIGHT) == 0
        assert ref.total(DROPPED) == 1

    def test_a_read_receipt_counts_once_over_many_polls(self) -> None:
        ref, track = Ref(), tracker()
        read = message("a", Status.DELIVERED, channel="rcs", read=True)
        for when in (T0 + 1, T0 + 3, T0 + 7):  # "b" keeps the ref polled
            ref.apply(track.report(ref.row, two(read, message("b", Status.SENT)), when))
        assert ref.total(READ, "rcs") == 1

    def test_a_read_wait_ends_with_its_window_while_the_ref_goes_on(self) -> None:
        ref, track = Ref(), tracker()
        unread = message("a", Status.DELIVERED, channel="rcs")
        open_sms = message("b", Status.SENT)
        ref.apply(track.report(ref.row, two(unread, open_sms), T0 + 1))
        assert ref.total(AWAITING_READ, "rcs") == 1
        for when in (T0 + 700, T0 + 760):  # past the 600 s window; "b" still open
            update = ref.apply(track.report(ref.row, two(unread, open_sms), when))
            assert update.next_poll_at is not None
        assert ref.total(AWAITING_READ, "rcs") == 0

    def test_no_read_wait_without_a_window(self) -> None:
        ref, track = Ref(), tracker(schedule=SCHEDULE.model_copy(update={"read_receipt_window": 0}))
        update = ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 1))
        assert update.next_poll_at is None
        assert ref.total(AWAITING_READ) == 0


def test_acceptance_time_without_a_change_time_is_observed() -> None:
    """MobileConnect gives when a send was created, not when it was delivered: the exporter
    observes delivery between two polls, from the provider's acceptance."""
    ref, track = Ref(), tracker()
    ref.apply(track.report(ref.row, seen(Status.SENT, accepted_at=T0 - 2), T0 + 1))
    ref.apply(track.report(ref.row, seen(Status.DELIVERED, accepted_at=T0 - 2), T0 + 3))
    assert ref.total(LATENCY_SUM) == 4  # midpoint 2 s after submission, 4 after acceptance


class TestStoredState:
    """The state text in the store, both as this version writes it and as the first did."""

    def test_round_trip(self) -> None:
        state = RefState(
            {
                "a": MessageState(Status.DELIVERED, "rcs", False, 123.5, awaiting_read=True),
                "b": MessageState(Status.SENT, "sms"),
                "c": MessageState(Status.DELIVERED, "rcs", True, 99.0),
            }
        )
        assert RefState.load(state.dump()) == state

    def test_the_first_versions_text(self) -> None:
        old = '{"a":["delivered","rcs",0,123.5],"b":["delivered","rcs",1,99.0]}'
        loaded = RefState.load(old)
        assert loaded.messages["a"] == MessageState(Status.DELIVERED, "rcs", False, 123.5)
        assert loaded.messages["b"] == MessageState(Status.DELIVERED, "rcs", True, 99.0)

    def test_an_open_message_is_written_as_it_always_was(self) -> None:
        assert (
            RefState({"": MessageState(Status.SENT, "sms")}).dump() == '{"":["sent","sms",0,null]}'
        )


class TestUnchangedPolls:
    """Most polls find a message where the last one left it: nothing counted, nothing written."""

    def test_an_unchanged_poll_writes_no_state(self) -> None:
        track = tracker()
        row = DueRef(1, '{"id":"x"}', "", T0, 1, T0 + 1, '{"":["sent","sms",0,null]}', version=5)
        update, deltas = track.report(row, seen(Status.SENT), T0 + 3)
        assert (update.state_changed, update.state, deltas) == (False, row.state, [])
        assert (update.polls, update.last_poll_at, update.next_poll_at) == (2, T0 + 3, T0 + 7)
        assert (update.in_flight, update.priority, update.version) == (True, 0, 5)

    def test_a_new_status_is_never_taken_for_the_last_one(self) -> None:
        ref, track = Ref(), tracker()
        for when in (T0 + 1, T0 + 3):
            ref.apply(track.report(ref.row, seen(Status.QUEUED), when))
        update = ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 7))
        assert update.state_changed is True
        assert RefState.load(update.state).messages[""].status is Status.SENT
        assert ref.total(IN_FLIGHT, "sent") == 1 and ref.total(IN_FLIGHT, "queued") == 0
        update = ref.apply(track.report(ref.row, seen(Status.SENT, channel="rcs"), T0 + 15))
        assert update.state_changed is False  # the channel a message was first seen on stays

    def test_a_request_with_no_messages_listed_yet_stays_pending(self) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.report(ref.row, RefReport([], complete=False), T0 + 1))
        assert (update.state, update.polls, update.next_poll_at) == ("", 1, T0 + 3)
        assert ref.total(IN_FLIGHT, "pending") == 1 and update.in_flight

    def test_a_final_message_of_a_request_still_listing_is_not_in_flight(self) -> None:
        ref, track = Ref(), tracker()
        listing = RefReport([message("", Status.REJECTED, reason="spam")], complete=False)
        for when in (T0 + 1, T0 + 3):
            update = ref.apply(track.report(ref.row, listing, when))
            assert update.next_poll_at is not None
            assert (update.in_flight, update.priority) == (False, 1)
        assert ref.total(FINAL, "rejected") == 1


class TestFinishedRefs:
    """A finished or dropped ref is out of flight (the oldest-open age ignores it), and its
    update carries the version it was read at (a shared store applies it only then)."""

    def test_final_by_poll(self) -> None:
        row = DueRef(1, '{"id":"x"}', "", T0, 1, T0 + 1, '{"":["sent","sms",0,null]}', version=3)
        update, _ = tracker().report(row, seen(Status.DELIVERED), T0 + 3)
        assert (update.next_poll_at, update.finished_at) == (None, T0 + 3)
        assert (update.in_flight, update.version, update.polls) == (False, 3, 2)

    def test_dropped(self) -> None:
        row = DueRef(1, '{"id":"x"}', "", T0, 4, T0 + 20, '{"":["sent","sms",0,null]}', version=3)
        update, _ = tracker().gone(row, RefNotFound("x"), T0 + 40)
        assert (update.next_poll_at, update.finished_at, update.in_flight) == (None, T0 + 40, False)
        # The 404 is an answer about the ref: a poll.
        assert (update.polls, update.last_poll_at, update.version) == (5, T0 + 40, 3)

    def test_dropped_at_the_end_of_the_grace_period(self) -> None:
        ref, track = Ref(), tracker()
        update = ref.apply(track.gone(ref.row, RefNotFound("x"), T0 + 30))
        assert update.next_poll_at is None and ref.total(DROPPED) == 1

    def test_expiry_is_its_own_source(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.failed(ref.row, T0 + 3700))
        assert ref.total(FINAL_BY_SOURCE, "expiry") == 1
        assert ref.total(FINAL_BY_SOURCE, "poll") == 0


class TestReadWindowBounds:
    """A read-receipt wait lasts the window exactly: over when it has passed, not a poll later."""

    def test_a_ref_of_one_message(self) -> None:
        ref, track = Ref(), tracker()
        ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 1))
        update = ref.apply(track.report(ref.row, seen(Status.DELIVERED, channel="rcs"), T0 + 601))
        assert update.next_poll_at is None and ref.total(AWAITING_READ) == 0

    def test_a_ref_with_another_open_message(self) -> None:
        ref, track = Ref(), tracker()
        report = two(message("a", Status.DELIVERED, channel="rcs"), message("b", Status.SENT))
        ref.apply(track.report(ref.row, report, T0 + 1))
        ref.apply(track.report(ref.row, report, T0 + 300))
        assert ref.total(AWAITING_READ, "rcs") == 1
        ref.apply(track.report(ref.row, report, T0 + 601))
        assert ref.total(AWAITING_READ, "rcs") == 0


def test_sub_second_intervals_are_kept() -> None:
    schedule = SCHEDULE.model_copy(update={"first_poll": 0.5, "initial_interval": 0.5})
    ref, track = Ref(), tracker(schedule=schedule)
    update = ref.apply(track.report(ref.row, seen(Status.SENT), T0 + 1))
    assert update.next_poll_at == T0 + 1.5

"""Every way a poll can end, classified into pauses, drops and counts, on a virtual clock.

These are table tests at the poller's seam (:meth:`AccountPoller.conclude`) and the
governor's: the provider's answer (or what it raised) goes in; what comes out is
what the account does next (a pause, ``up``), what becomes of the refs (polled,
rescheduled, untouched, dropped) and what is counted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    ErrorKind,
    Observation,
    PaymentRequired,
    Provider,
    ProviderError,
    ProviderHttp,
    ProviderSettings,
    RefInvalid,
    RefModel,
    RefNotFound,
    RefOutcome,
    RefReport,
    ScheduleSettings,
    Status,
    Throttled,
    TransientError,
)
from sms_delivery_exporter.metrics import AccountHealth
from sms_delivery_exporter.metrics.health import PauseReason
from sms_delivery_exporter.outcomes import Catalogue, OutcomeBook
from sms_delivery_exporter.outcomes.catalogue import DROPPED, FINAL, IN_FLIGHT
from sms_delivery_exporter.polling import AccountGovernor, AccountPoller, Tracker, Writer
from sms_delivery_exporter.polling.accounts import account_rules
from sms_delivery_exporter.polling.governor import (
    AUTH_BACKOFF,
    BLOCKED_PAUSE,
    FAILURE_BACKOFF,
    THROTTLE_BACKOFF,
)
from sms_delivery_exporter.polling.tracker import PollResult
from sms_delivery_exporter.store import DueRef, SqliteStore
from tests.conftest import FakeClock

SUBMITTED = 1_790_000_000.0
SCHEDULE = ScheduleSettings(first_poll=1, initial_interval=10, growth=2, not_found_grace=60)


class IdRef(RefModel):
    id: str


class Scripted(Provider[ProviderSettings, IdRef]):
    """A provider that is never asked anything: the tests hand its answers to the poller."""

    name = "scripted"
    Settings = ProviderSettings
    Ref = IdRef
    reasons = frozenset({"blocked"})


@dataclass
class Account:
    """One account's poller, governor and health, on a virtual clock."""

    clock: FakeClock
    poller: AccountPoller
    health: AccountHealth
    rows: list[DueRef] = field(default_factory=list)

    def ref(self, age: float = 30.0, polls: int = 1, state: str = "") -> DueRef:
        """A due ref submitted ``age`` seconds ago, polled ``polls`` times."""
        row = DueRef(
            len(self.rows) + 1,
            '{"id":"a"}',
            "",
            self.clock.now - age,
            polls,
            self.clock.now - 10 if polls else None,
            state,
        )
        self.rows.append(row)
        return row

    def conclude(
        self, rows: list[DueRef], outcomes: list[RefOutcome], failure: Exception | None = None
    ) -> list[PollResult] | None:
        return self.poller.conclude(rows, [], outcomes, failure)


@pytest.fixture
def account(tmp_path: Path) -> Account:
    clock = FakeClock(SUBMITTED + 100)
    settings = ProviderSettings(provider="scripted", schedule=SCHEDULE)
    health = AccountHealth("scripted", "acct")
    # A real store object and writer, never opened: conclude() only decides.
    store = SqliteStore(tmp_path / "unused.db")
    book = OutcomeBook(Catalogue())
    http = ProviderHttp(None, limiter=None, timeout=1, observe=health.observe_call)  # type: ignore[arg-type]
    from sms_delivery_exporter.config import Account as ConfiguredAccount

    configured = ConfiguredAccount("acct", Scripted, settings)
    poller = AccountPoller(
        provider=Scripted(settings, http),  # type: ignore[arg-type]
        tracker=Tracker(account_rules(configured, ())),
        governor=AccountGovernor(health, clock=clock, jitter=lambda: 1.0),
        store=store,
        writer=Writer(store, book),
        clock=clock,
    )
    return Account(clock, poller, health)


def report(status: Status) -> RefReport:
    return RefReport([Observation(key="", status=status, provider_status=status.value)])


def counted(result: PollResult, series: str) -> dict[tuple[str, ...], float]:
    return {labels[2:]: amount for name, labels, amount in result[1] if name == series}


ANSWERED = "answered"
RESCHEDULED = "rescheduled"
DROPPED_REF = "dropped"
UNTOUCHED = "untouched"


@dataclass(frozen=True)
class Case:
    name: str
    outcome: RefOutcome | Exception
    refs: str
    """What becomes of the ref: answered (polled), rescheduled, dropped, untouched."""
    pause: float = 0.0
    up: float | None = 1.0
    errors: tuple[ErrorKind, ...] = ()
    age: float = 30.0


CASES = [
    Case("report, still open", report(Status.SENT), ANSWERED),
    Case("report, final", report(Status.DELIVERED), ANSWERED),
    Case("404 within the grace period", RefNotFound("x"), RESCHEDULED, age=30),
    Case(
        "404 after the grace period",
        RefNotFound("x"),
        DROPPED_REF,
        errors=(ErrorKind.NOT_FOUND,),
        age=120,
    ),
    Case("invalid", RefInvalid("x"), DROPPED_REF, errors=(ErrorKind.INVALID,)),
    Case(
        "429 with Retry-After",
        Throttled("x", retry_after=7),
        UNTOUCHED,
        pause=7,
        errors=(ErrorKind.THROTTLED,),
    ),
    Case(
        "429 without Retry-After",
        Throttled("x"),
        UNTOUCHED,
        pause=THROTTLE_BACKOFF[0],
        errors=(ErrorKind.THROTTLED,),
    ),
    Case(
        "blocked account",
        Throttled("x", retry_after=5, blocked=True),
        UNTOUCHED,
        pause=BLOCKED_PAUSE,
        errors=(ErrorKind.BLOCKED,),
    ),
    Case(
        "credentials refused",
        AuthFailed("x"),
        UNTOUCHED,
        pause=AUTH_BACKOFF[0],
        up=0,
        errors=(ErrorKind.AUTH,),
    ),
    Case("5xx", TransientError("x"), RESCHEDULED, up=0, errors=(ErrorKind.TRANSIENT,)),
    Case(
        "timeout",
        TransientError("x", kind=ErrorKind.TIMEOUT),
        RESCHEDULED,
        up=0,
        errors=(ErrorKind.TIMEOUT,),
    ),
    Case(
        "connection refused",
        TransientError("x", kind=ErrorKind.CONNECTION),
        RESCHEDULED,
        up=0,
        errors=(ErrorKind.CONNECTION,),
    ),
    Case(
        "unreadable answer", BadResponse("x"), RESCHEDULED, up=0, errors=(ErrorKind.BAD_RESPONSE,)
    ),
    Case("402", PaymentRequired("x"), RESCHEDULED, errors=(ErrorKind.PAYMENT_REQUIRED,)),
    Case("plugin bug", RuntimeError("bug"), RESCHEDULED, up=0, errors=(ErrorKind.PLUGIN_ERROR,)),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_outcome_classified(account: Account, case: Case) -> None:
    row = account.ref(age=case.age)
    if isinstance(case.outcome, RefReport | RefNotFound | RefInvalid):
        results = account.conclude([row], [case.outcome])
    else:
        results = account.conclude([row], [], case.outcome)
    now = account.clock.now
    assert account.poller.governor.paused_for() == pytest.approx(case.pause)
    assert account.health.up == case.up
    answered = isinstance(case.outcome, RefReport | RefNotFound | RefInvalid)
    assert account.health.last_success == (now if answered else None)
    assert {k for k, n in account.health.errors.items() if n} == set(case.errors)
    assert all(account.health.errors[kind] == 1 for kind in case.errors)
    if case.refs == UNTOUCHED:
        assert results is None
        return
    assert results is not None
    [(update, deltas)] = results
    if case.refs == ANSWERED:
        assert update.polls == row.polls + 1 and update.last_poll_at == now
    elif case.refs == RESCHEDULED:
        assert update.next_poll_at is not None and update.next_poll_at > now
        if isinstance(case.outcome, RefNotFound):
            assert update.polls == row.polls + 1  # the 404 is an answer about this ref
        else:
            # No answer: the last poll that got one still bounds the delivery time.
            assert (update.polls, update.last_poll_at) == (row.polls, row.last_poll_at)
            assert deltas == []
    else:
        assert update.next_poll_at is None and update.finished_at == now
        kind = case.errors[0].value
        assert counted((update, deltas), DROPPED) == {(kind,): 1.0}
        assert counted((update, deltas), IN_FLIGHT) == {("pending",): -1.0}


def test_final_report_counted_once(account: Account) -> None:
    [result] = account.conclude([account.ref()], [report(Status.DELIVERED)]) or []
    assert counted(result, FINAL) == {("sms", "delivered"): 1.0}
    assert result[0].next_poll_at is None


def test_outcome_count_mismatch_is_a_bad_response(account: Account) -> None:
    rows = [account.ref(), account.ref()]
    results = account.conclude(rows, [report(Status.SENT)])
    assert account.health.errors[ErrorKind.BAD_RESPONSE] == 1
    assert results is not None and len(results) == 2
    assert all(update.next_poll_at is not None for update, _ in results)


def test_unreadable_stored_ref_is_dropped_as_invalid(account: Account) -> None:
    unreadable = DueRef(9, '{"no_id":1}', "", SUBMITTED, 0, None, "")
    results = account.poller.conclude([], [unreadable], [], None)
    assert results is not None
    [(update, deltas)] = results
    assert update.next_poll_at is None
    assert counted((update, deltas), DROPPED) == {("invalid",): 1.0}


def test_plugin_bug_is_logged_as_an_error(
    account: Account, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        account.conclude([account.ref()], [], RuntimeError("bug"))
    [record] = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "unexpected error" in record.getMessage()


class TestBackoffs:
    """Pauses grow while the cause lasts, never shrink a pause under way, and reset on success."""

    def test_throttle_without_retry_after_doubles_to_a_cap(self, account: Account) -> None:
        pauses = []
        for _ in range(9):
            account.conclude([account.ref()], [], Throttled("x"))
            pauses.append(account.poller.governor.paused_for())
            account.clock.advance(pauses[-1])
        assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60]

    def test_auth_pause_doubles_to_ten_minutes(self, account: Account) -> None:
        pauses = []
        for _ in range(7):
            account.conclude([account.ref()], [], AuthFailed("x"))
            pauses.append(account.poller.governor.paused_for())
            account.clock.advance(pauses[-1])
        assert pauses == [30, 60, 120, 240, 480, 600, 600]

    def test_an_answer_resets_both(self, account: Account) -> None:
        governor = account.poller.governor
        for error in (Throttled("x"), Throttled("x"), AuthFailed("x"), AuthFailed("x")):
            account.conclude([account.ref()], [], error)
            account.clock.advance(governor.paused_for())
        account.conclude([account.ref()], [report(Status.SENT)])
        account.conclude([account.ref()], [], Throttled("x"))
        assert governor.paused_for() == THROTTLE_BACKOFF[0]
        account.clock.advance(governor.paused_for())
        account.conclude([account.ref()], [], AuthFailed("x"))
        assert governor.paused_for() == AUTH_BACKOFF[0]

    def test_a_shorter_pause_never_cuts_a_longer_one(self, account: Account) -> None:
        account.conclude([account.ref()], [], Throttled("x", blocked=True))
        account.conclude([account.ref()], [], Throttled("x", retry_after=1))
        assert account.poller.governor.paused_for() == BLOCKED_PAUSE

    def test_pause_ends_on_the_clock(self, account: Account) -> None:
        account.conclude([account.ref()], [], Throttled("x", retry_after=5))
        account.clock.advance(4.9)
        assert account.poller.governor.paused_for() == pytest.approx(0.1)
        account.clock.advance(0.1)
        assert account.poller.governor.paused_for() == 0


class TestCountsAndLogs:
    """Counters accumulate; warnings name the account and kind, at most one per kind per 30 s."""

    def test_errors_and_429s_accumulate(self, account: Account) -> None:
        for _ in range(3):
            account.conclude([account.ref()], [], TransientError("x"))
            account.conclude([account.ref()], [], Throttled("x", retry_after=0))
        assert account.health.errors[ErrorKind.TRANSIENT] == 3
        assert account.health.errors[ErrorKind.THROTTLED] == 3
        assert account.health.throttled == 3

    def test_drops_accumulate_and_only_invalid_ones_warn(
        self, account: Account, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            for _ in range(2):
                account.conclude([account.ref(age=120)], [RefNotFound("x")])
        assert account.health.errors[ErrorKind.NOT_FOUND] == 2
        assert caplog.records == []
        with caplog.at_level(logging.WARNING):
            account.conclude([account.ref()], [RefInvalid("x")])
        [record] = caplog.records
        assert "no longer polled" in record.getMessage()
        assert (record.account, record.kind) == ("acct", "invalid")  # type: ignore[attr-defined]

    def test_one_warning_per_kind_per_interval(
        self, account: Account, caplog: pytest.LogCaptureFixture
    ) -> None:
        with caplog.at_level(logging.WARNING):
            for _ in range(3):
                account.conclude([account.ref()], [], TransientError("x"))
                account.clock.advance(10)
            account.conclude([account.ref()], [], TransientError("x", kind=ErrorKind.TIMEOUT))
            account.clock.advance(0.5)
            account.conclude([account.ref()], [], TransientError("x"))
        warnings = [(r.kind, r.suppressed_since_last) for r in caplog.records]  # type: ignore[attr-defined]
        # transient at 0 s; timeout (another kind) at once; transient again at 30.5 s,
        # saying how many it held back.
        assert warnings == [("transient", 0), ("timeout", 0), ("transient", 2)]
        assert all(r.account == "acct" for r in caplog.records)  # type: ignore[attr-defined]


class TestEpisodes:
    """A pause is one episode: calls on the wire when it began neither lengthen it nor count as
    a further step; when it ends one probe goes first, and only its outcome lets the rest go."""

    def test_outage_backs_off_after_three_failures_in_a_row(self, account: Account) -> None:
        governor = account.poller.governor
        for _ in range(2):
            account.conclude([account.ref()], [], TransientError("x"))
        assert governor.paused_for() == 0  # one or two stray 5xx cost nothing
        account.conclude([account.ref()], [], TransientError("x", kind=ErrorKind.TIMEOUT))
        assert governor.paused_for() == FAILURE_BACKOFF[0]
        assert account.health.pause_reason is PauseReason.BACKOFF

    @pytest.mark.parametrize("answer", [PaymentRequired("x"), BadResponse("x")])
    def test_any_answer_in_between_starts_the_count_over(
        self, account: Account, answer: ProviderError
    ) -> None:
        for error in (TransientError("x"), TransientError("x"), answer, TransientError("x")):
            account.conclude([account.ref()], [], error)
        assert account.poller.governor.paused_for() == 0

    def test_a_success_in_between_starts_the_count_over(self, account: Account) -> None:
        for outcome in ("fail", "fail", "ok", "fail", "fail"):
            if outcome == "ok":
                account.conclude([account.ref()], [report(Status.SENT)])
            else:
                account.conclude([account.ref()], [], TransientError("x"))
        assert account.poller.governor.paused_for() == 0

    def test_backoff_doubles_per_episode_to_a_minute(self, account: Account) -> None:
        governor = account.poller.governor
        pauses = []
        for _ in range(9):
            for _ in range(3):  # the probe fails, then calls on the wire: one step only
                account.conclude([account.ref()], [], TransientError("x"))
            pauses.append(governor.paused_for())
            account.clock.advance(pauses[-1])
        assert pauses == [1, 2, 4, 8, 16, 32, 60, 60, 60]

    def test_backoff_has_jitter(self, tmp_path: Path) -> None:
        health = AccountHealth("scripted", "acct")
        clock = FakeClock()
        governor = AccountGovernor(health, clock=clock)  # the real, random jitter
        pauses = set()
        for _ in range(20):
            for _ in range(3):
                governor.failed(TransientError("x"))
            pauses.add(round(governor.paused_for(), 6))
            governor.answered()
            clock.advance(100)
        assert len(pauses) > 10 and all(0.8 <= p <= 1.2 for p in pauses)

    def test_refused_credentials_on_the_wire_are_one_episode(self, account: Account) -> None:
        governor = account.poller.governor
        for _ in range(4):  # four polls were in flight when the credentials were refused
            account.conclude([account.ref()], [], AuthFailed("x"))
        assert governor.paused_for() == AUTH_BACKOFF[0]
        account.clock.advance(AUTH_BACKOFF[0])
        account.conclude([account.ref()], [], AuthFailed("x"))  # the probe after the pause
        assert governor.paused_for() == AUTH_BACKOFF[0] * 2

    async def test_one_probe_after_a_pause(self, account: Account) -> None:
        governor = account.poller.governor
        account.conclude([account.ref()], [], Throttled("x", retry_after=5))
        assert not governor.open()
        account.clock.advance(5)
        assert not governor.open()  # the pause is over, but the probe has not gone yet
        assert await governor.admit() is True  # this call is the probe
        second = asyncio.create_task(governor.admit())
        for _ in range(3):
            await asyncio.sleep(0)
        assert not second.done()  # the others wait for the probe's outcome
        governor.probe_done()
        account.conclude([account.ref()], [report(Status.SENT)])  # the probe was answered
        assert await second is False and governor.open()

    async def test_a_failed_probe_pauses_again(self, account: Account) -> None:
        governor = account.poller.governor
        account.conclude([account.ref()], [], AuthFailed("x"))
        account.clock.advance(AUTH_BACKOFF[0])
        assert await governor.admit() is True
        account.conclude([account.ref()], [], AuthFailed("x"))
        governor.probe_done()
        assert governor.paused_for() == AUTH_BACKOFF[0] * 2 and not governor.open()


class TestGate:
    """The gate in front of every call: open at start, closed for a pause, one probe after."""

    def test_a_fresh_account_calls_freely(self, account: Account) -> None:
        assert account.poller.governor.open()

    async def test_a_waiting_call_goes_when_the_pause_ends(self) -> None:
        health = AccountHealth("scripted", "acct")
        governor = AccountGovernor(health, clock=time.time)
        governor.failed(Throttled("x", retry_after=0.3))
        asked = time.time()
        assert await asyncio.wait_for(governor.admit(), 5) is True
        assert time.time() - asked >= 0.29

    async def test_a_second_probe_after_a_failed_one(self, account: Account) -> None:
        governor = account.poller.governor
        account.conclude([account.ref()], [], AuthFailed("x"))
        account.clock.advance(governor.paused_for())
        assert await governor.admit() is True
        account.conclude([account.ref()], [], AuthFailed("x"))
        governor.probe_done()
        account.clock.advance(governor.paused_for())
        assert await asyncio.wait_for(governor.admit(), 5) is True

    def test_a_failure_in_the_last_second_of_a_pause_is_the_same_episode(
        self, account: Account
    ) -> None:
        governor = account.poller.governor
        account.conclude([account.ref()], [], AuthFailed("x"))
        account.clock.advance(AUTH_BACKOFF[0] - 0.5)
        account.conclude([account.ref()], [], AuthFailed("x"))  # sent before the pause began
        assert governor.paused_for() == pytest.approx(0.5)

    def test_only_outage_backoff_has_jitter(self) -> None:
        """The provider's Retry-After and the documented auth steps are kept exactly."""
        for error, pause in ((AuthFailed("x"), 30.0), (Throttled("x"), 1.0)):
            governor = AccountGovernor(AccountHealth("scripted", "acct"), clock=FakeClock())
            governor.failed(error)
            assert governor.paused_for() == pause

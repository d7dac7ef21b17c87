"""What a call's outcome means for its whole account: pauses, health, and rate-limited logs.

Every API call of the account passes the governor's gate right before it goes
on the wire (:class:`~sms_delivery_exporter.api.CallGate`), and the poller tells
the governor how each call ended. The rules live here, on an injected clock,
so table tests classify every outcome without a network or a store:

==============================  ==================================  =====  ===========
outcome                         pause (reason)                      up     refs
==============================  ==================================  =====  ===========
answer (report, 404, 4xx)       none; every backoff starts over     1      polled
429 with Retry-After            Retry-After (throttled)             1      untouched
429 without Retry-After         1 s doubling to 60 s (throttled)    1      untouched
blocked account                 max(Retry-After, 5 min) (blocked)   1      untouched
credentials refused             30 s doubling to 10 min (auth)      0      untouched
5xx, timeout, connection        after 3 in a row: 1 s doubling      0      rescheduled
                                to 60 s, with jitter (backoff)
402                             none                                1      rescheduled
unreadable answer, plugin bug   none                                0      rescheduled
==============================  ==================================  =====  ===========

A pause is an *episode*: the calls already on the wire when it starts may
fail too, and they neither lengthen it nor count as a new step of its
backoff. When a pause ends, one call goes first (a probe); the others wait
for its outcome, so a dead API gets a call per backoff step, not a burst of
``concurrency`` calls. "Untouched" refs keep their schedule and are polled
again once the pause ends; "rescheduled" ones wait their next interval.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from enum import Enum

from sms_delivery_exporter.api import AuthFailed, ErrorKind, ProviderError, Throttled
from sms_delivery_exporter.metrics import AccountHealth
from sms_delivery_exporter.metrics.health import PauseReason

log = logging.getLogger(__name__)

THROTTLE_BACKOFF = (1.0, 60.0)
"""First and largest pause after a 429 without Retry-After."""
BLOCKED_PAUSE = 300.0
"""Pause when the provider says the account is blocked, not merely throttled."""
AUTH_BACKOFF = (30.0, 600.0)
"""First and largest pause after refused credentials."""
FAILURE_BACKOFF = (1.0, 60.0)
"""First and largest pause after consecutive 5xx answers, timeouts or connection errors."""
FAILURES_BEFORE_BACKOFF = 3
"""Consecutive failed calls before the account backs off: one stray 5xx costs nothing."""
JITTER = (0.8, 1.2)
"""Backoff pauses are multiplied by a random factor in this range, so accounts do not march."""
LOG_EVERY = 30.0
"""Seconds between two warnings of one kind for one account."""
DEBUG_EVERY = 5.0
"""Seconds between two debug lines of one kind for one account."""
IDLE_WAKE = 1.0
"""Longest a waiting call sleeps without looking at the pause again."""

_OUTAGE = frozenset({ErrorKind.TRANSIENT, ErrorKind.TIMEOUT, ErrorKind.CONNECTION})
_API_ANSWERED = frozenset({ErrorKind.PAYMENT_REQUIRED})
"""Failures that still prove the API reachable and the credentials accepted."""


class Verdict(Enum):
    """What becomes of the refs of a failed call."""

    UNTOUCHED = "untouched"
    """Released as they were: polled again when the account's pause ends."""
    RESCHEDULED = "rescheduled"
    """Polled again after their next interval."""


class _Backoff:
    """A pause that doubles per episode up to a cap, and starts over after a success."""

    def __init__(self, bounds: tuple[float, float]) -> None:
        self._first, self._cap = bounds
        self._next = self._first

    def step(self) -> float:
        pause = self._next
        self._next = min(self._next * 2, self._cap)
        return pause

    def reset(self) -> None:
        self._next = self._first


class AccountGovernor:
    """Pauses, backoffs, probing and health of one account; the gate of its calls."""

    def __init__(
        self,
        health: AccountHealth,
        *,
        clock: Callable[[], float] = time.time,
        jitter: Callable[[], float] | None = None,
    ) -> None:
        self.health = health
        self.account = health.account
        self._clock = clock
        self._jitter = jitter or (lambda: random.uniform(*JITTER))
        self._throttle = _Backoff(THROTTLE_BACKOFF)
        self._auth = _Backoff(AUTH_BACKOFF)
        self._outage = _Backoff(FAILURE_BACKOFF)
        self._failures_in_a_row = 0
        self._probing = False
        self._probe_in_flight = False
        self._probe_done = asyncio.Event()
        self._logged: dict[str, tuple[float, int]] = {}

    # The gate, called by ProviderHttp right before a request goes on the wire.

    def open(self) -> bool:
        """A call may go now: not paused, and no probe pending after a pause."""
        return not self._probing and self.health.paused_until <= self._clock()

    async def admit(self) -> bool:
        """Wait until a call may go; True when it is the probe that ends a pause."""
        while True:
            remaining = self.paused_for()
            if remaining > 0:
                # A later 429 may push the end back: look again after each nap.
                await asyncio.sleep(min(remaining, IDLE_WAKE))
                continue
            if not self._probing:
                return False
            if not self._probe_in_flight:
                self._probe_in_flight = True
                self._probe_done.clear()
                return True
            await self._probe_done.wait()

    def probe_done(self) -> None:
        """The probe call ended; if it failed, a new pause is already set."""
        self._probe_in_flight = False
        self._probe_done.set()

    # What calls ended with, told by the poller.

    def paused_for(self) -> float:
        """Seconds until the account may call its provider again (0 when it may now)."""
        return max(0.0, self.health.paused_until - self._clock())

    def answered(self) -> None:
        """The provider answered usably: the account is up and its backoffs start over."""
        health = self.health
        health.up = 1.0
        health.last_success = self._clock()
        if self._probing or self._failures_in_a_row:
            log.debug(
                "account answering again",
                extra={"account": self.account, "failed_calls_before": self._failures_in_a_row},
            )
        self._failures_in_a_row = 0
        for backoff in (self._throttle, self._auth, self._outage):
            backoff.reset()
        if self._probing:
            self._probing = False
            self._probe_done.set()

    def failed(self, error: ProviderError) -> Verdict:
        """A call got no usable answer; what it means for the account and the call's refs."""
        health = self.health
        health.errors[error.kind] += 1
        if isinstance(error, Throttled):
            health.up = 1.0
            self._throttled(error)
            return Verdict.UNTOUCHED
        health.up = 1.0 if error.kind in _API_ANSWERED else 0.0
        self._warn("poll failed", error.kind, error=str(error))
        if isinstance(error, AuthFailed):
            self._pause_episode(PauseReason.AUTH, self._auth)
            return Verdict.UNTOUCHED
        if error.kind in _OUTAGE:
            self._failures_in_a_row += 1
            if self._failures_in_a_row >= FAILURES_BEFORE_BACKOFF:
                self._pause_episode(PauseReason.BACKOFF, self._outage, jitter=True)
        else:
            # The API answered (a 402, an unreadable body): whatever it is, it is not down.
            self._failures_in_a_row = 0
        return Verdict.RESCHEDULED

    def crashed(self, exc: BaseException) -> Verdict:
        """The plugin raised something that is not a ProviderError: a bug in it."""
        # The traceback names no ids: the exception is the plugin's own, not a message's.
        log.error(
            "provider raised an unexpected error", extra={"account": self.account}, exc_info=exc
        )
        return self.failed(_PluginBug("unexpected error in the provider plugin"))

    def gave_up(self, error: ProviderError) -> None:
        """The provider does not know a ref, or refuses it for good: it is dropped."""
        self.health.errors[error.kind] += 1
        if error.kind is ErrorKind.INVALID:
            self._warn(
                "provider refused a ref for good; it is no longer polled",
                error.kind,
                error=str(error),
            )

    def _throttled(self, throttled: Throttled) -> None:
        self.health.throttled += 1
        if throttled.blocked:
            pause = max(throttled.retry_after or 0.0, BLOCKED_PAUSE)
            self._pause(PauseReason.BLOCKED, pause)
        elif throttled.retry_after is not None:
            # The provider's own word: no escalation, no jitter.
            self._pause(PauseReason.THROTTLED, throttled.retry_after)
        else:
            self._pause_episode(PauseReason.THROTTLED, self._throttle)
        self._warn(
            "provider is throttling the account, pausing",
            throttled.kind,
            seconds=round(self.paused_for(), 3),
            blocked=throttled.blocked,
        )

    def _pause_episode(
        self, reason: PauseReason, backoff: _Backoff, *, jitter: bool = False
    ) -> None:
        """One step of a backoff, unless the account is already paused: then the failure
        is a call that was on the wire when this episode began."""
        if self.paused_for() > 0:
            return
        pause = backoff.step()
        self._pause(reason, pause * self._jitter() if jitter else pause)

    def _pause(self, reason: PauseReason, seconds: float) -> None:
        health = self.health
        until = self._clock() + seconds
        # A later, shorter pause never cuts an earlier one short.
        if until > health.paused_until:
            health.paused_until = until
            health.pause_reason = reason
            self._limited(
                logging.DEBUG,
                "account paused; one probe call when the pause ends",
                f"pause:{reason.value}",
                every=DEBUG_EVERY,
                reason=reason.value,
                seconds=round(seconds, 3),
            )
        self._probing = True

    def _warn(self, message: str, kind: str, **fields: object) -> None:
        """One warning per kind and account every LOG_EVERY seconds: outages must not flood logs."""
        self._limited(logging.WARNING, message, kind, every=LOG_EVERY, kind=kind, **fields)

    def _limited(
        self, level: int, message: str, key: str, *, every: float, **fields: object
    ) -> None:
        """A log line at most every ``every`` seconds per key, saying how many it held back."""
        if not log.isEnabledFor(level):
            return
        now = self._clock()
        last, suppressed = self._logged.get(key, (float("-inf"), 0))
        if now - last < every:
            self._logged[key] = (last, suppressed + 1)
            return
        self._logged[key] = (now, 0)
        log.log(
            level,
            message,
            extra={"account": self.account, **fields, "suppressed_since_last": suppressed},
        )


class _PluginBug(ProviderError):
    kind = ErrorKind.PLUGIN_ERROR

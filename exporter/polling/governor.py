"""What a poll's outcome means for its whole account: pauses, health, and rate-limited logs.

The poller asks the governor before each call whether the account is paused,
and tells it how each call ended. The rules live here, on an injected clock,
so table tests classify every outcome without a network or a store:

============================  =========================  ==========  ==============
outcome                       pause                      ``up``      refs
============================  =========================  ==========  ==============
answer (report, 404, 4xx)     none; backoffs reset       1           polled
throttled, Retry-After        Retry-After                unchanged   untouched
throttled, no Retry-After     1 s doubling to 60 s       unchanged   untouched
blocked                       max(Retry-After, 300 s)    unchanged   untouched
auth refused                  30 s doubling to 10 min    0           untouched
timeout, connection, 5xx,     none                       0           rescheduled
bad or absurd answer,
402, plugin bug
============================  =========================  ==========  ==============

"Untouched" refs keep their schedule and are polled again once the pause
ends; "rescheduled" ones wait their next interval, and keep the time of the
last poll that did get an answer, for latency.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from enum import Enum

from sms_delivery_exporter.api import AuthFailed, ErrorKind, ProviderError, Throttled
from sms_delivery_exporter.metrics import AccountHealth

log = logging.getLogger(__name__)

THROTTLE_BACKOFF = (1.0, 60.0)
"""First and largest pause after a 429 without Retry-After."""
BLOCKED_PAUSE = 300.0
"""Pause when the provider says the account is blocked, not merely throttled."""
AUTH_BACKOFF = (30.0, 600.0)
"""First and largest pause after refused credentials."""
LOG_EVERY = 30.0
"""Seconds between two warnings of one kind for one account."""


class Verdict(Enum):
    """What becomes of the refs of a failed call."""

    UNTOUCHED = "untouched"
    """Released as they were: polled again when the account's pause ends."""
    RESCHEDULED = "rescheduled"
    """Polled again after their next interval."""


class AccountGovernor:
    """Pauses, backoffs and health of one account."""

    def __init__(self, health: AccountHealth, *, clock: Callable[[], float] = time.time) -> None:
        self.health = health
        self.account = health.account
        self._clock = clock
        self._throttle_pause = THROTTLE_BACKOFF[0]
        self._auth_pause = AUTH_BACKOFF[0]
        self._logged: dict[str, tuple[float, int]] = {}

    def paused_for(self) -> float:
        """Seconds until the account may call its provider again (0 when it may now)."""
        return max(0.0, self.health.paused_until - self._clock())

    def answered(self) -> None:
        """The provider answered usably: the account is up and its backoffs start over."""
        health = self.health
        health.up = 1.0
        health.last_success = self._clock()
        self._throttle_pause = THROTTLE_BACKOFF[0]
        self._auth_pause = AUTH_BACKOFF[0]

    def failed(self, error: ProviderError) -> Verdict:
        """A call got no usable answer; what it means for the account and the call's refs."""
        self.health.errors[error.kind] += 1
        if isinstance(error, Throttled):
            self._throttled(error)
            return Verdict.UNTOUCHED
        self.health.up = 0.0
        self._warn("poll failed", error.kind, error=str(error))
        if isinstance(error, AuthFailed):
            self._pause(self._auth_pause)
            self._auth_pause = min(self._auth_pause * 2, AUTH_BACKOFF[1])
            return Verdict.UNTOUCHED
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
        elif throttled.retry_after is not None:
            pause = throttled.retry_after
        else:
            pause = self._throttle_pause
            self._throttle_pause = min(self._throttle_pause * 2, THROTTLE_BACKOFF[1])
        self._pause(pause)
        self._warn(
            "provider is throttling the account, pausing",
            throttled.kind,
            seconds=round(pause, 3),
            blocked=throttled.blocked,
        )

    def _pause(self, seconds: float) -> None:
        # A later, shorter pause never cuts an earlier one short.
        self.health.paused_until = max(self.health.paused_until, self._clock() + seconds)

    def _warn(self, message: str, kind: str, **fields: object) -> None:
        """One warning per kind and account every LOG_EVERY seconds: outages must not flood logs."""
        now = self._clock()
        last, suppressed = self._logged.get(kind, (float("-inf"), 0))
        if now - last < LOG_EVERY:
            self._logged[kind] = (last, suppressed + 1)
            return
        self._logged[kind] = (now, 0)
        log.warning(
            message,
            extra={
                "account": self.account,
                "kind": kind,
                **fields,
                "suppressed_since_last": suppressed,
            },
        )


class _PluginBug(ProviderError):
    kind = ErrorKind.PLUGIN_ERROR

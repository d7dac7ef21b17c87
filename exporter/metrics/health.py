"""One account's health, in one object: written by its poller, read at scrape time.

Nothing here calls prometheus_client on the poll path: a call only bumps
plain numbers, and :class:`~.collectors.HealthCollector` builds fresh
families from them at each scrape, so no stale label set lingers.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field
from enum import StrEnum

from sms_delivery_exporter.api import ErrorKind

REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class PauseReason(StrEnum):
    """Why an account is paused: the ``reason`` label of ``sms_exporter_provider_paused``."""

    THROTTLED = "throttled"
    """The provider answered 429."""
    BLOCKED = "blocked"
    """The provider blocked the account for a while (SFMC errorcode 50200)."""
    AUTH = "auth"
    """The provider refused the credentials."""
    BACKOFF = "backoff"
    """Consecutive 5xx answers, timeouts or connection errors: the API looks down."""


@dataclass(slots=True)
class AccountHealth:
    """What is known of one account's provider API."""

    provider: str
    account: str
    delivery_objective: float = 0.95
    """The account's SLO (config ``delivery_objective``), exported for the alert rules."""
    up: float | None = None
    """1 after a usable answer, 0 after a failure; None (absent) until the first call."""
    last_success: float | None = None
    """When the API last answered usably; None (absent) until it has."""
    paused_until: float = 0.0
    """No call before this time (after a 429, a blocked account, refused credentials)."""
    pause_reason: PauseReason | None = None
    """Why the account is (or was last) paused."""
    balance: tuple[float, str] | None = None
    """(amount, currency) of the account's credit, where the provider's API reports it."""
    next_poll_at: float | None = None
    """The earliest due poll, refreshed from the store at scrape time."""
    oldest_open_submitted_at: float | None = None
    """Submission of the oldest ref still polled, refreshed from the store at scrape time."""
    requests: dict[str, int] = field(default_factory=lambda: {"200": 0})
    """API calls by HTTP status code or error kind (timeout, connection)."""
    durations: list[int] = field(default_factory=lambda: [0] * (len(REQUEST_BUCKETS) + 1))
    """API calls per duration bucket (not cumulative), the last one +Inf."""
    duration_sum: float = 0.0
    throttled: int = 0
    """429 answers."""
    errors: dict[ErrorKind, int] = field(default_factory=lambda: dict.fromkeys(ErrorKind, 0))
    """Failed polls and refs given up, by kind: every kind from the start."""

    def observe_call(self, code: str, seconds: float | None) -> None:
        """One API call ended with an HTTP status or an error kind (``resent``: no duration)."""
        self.requests[code] = self.requests.get(code, 0) + 1
        if seconds is not None:
            self.durations[bisect_left(REQUEST_BUCKETS, seconds)] += 1
            self.duration_sum += seconds

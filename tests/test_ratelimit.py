"""The per-account token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from sms_delivery_exporter.polling.ratelimit import RateLimiter
from tests.conftest import FakeClock


def waits(limiter: RateLimiter, count: int) -> list[float]:
    return [round(max(limiter.reserve(), 0.0), 6) for _ in range(count)]


def test_spaces_requests_at_the_rate(clock: FakeClock) -> None:
    assert waits(RateLimiter(10, clock=clock), 4) == [0.0, 0.1, 0.2, 0.3]


def test_burst_after_idle_only(clock: FakeClock) -> None:
    limiter = RateLimiter(10, burst=3, clock=clock)
    clock.advance(60)  # a long idle spell saves up one burst, not 600 requests
    assert waits(limiter, 5) == [0.0, 0.0, 0.0, 0.1, 0.2]


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        RateLimiter(0)

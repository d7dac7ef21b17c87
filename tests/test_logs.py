"""Log lines are rate-limited per kind: nobody can fill the log, and what was dropped is said."""

from __future__ import annotations

import logging

from sms_delivery_exporter.process.logs import RateLimit
from tests.conftest import FakeClock


def record(message: str, level: int = logging.ERROR, name: str = "x") -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, (), None)


def test_one_kind_of_line_at_most_twenty_a_minute() -> None:
    clock = FakeClock(0.0)
    limit = RateLimit(lines=20, window=60.0, clock=clock)
    written = [limit.filter(record("request refused")) for _ in range(500)]
    assert sum(written) == 20
    # Other kinds of line are not held up by a flood of one kind.
    assert limit.filter(record("store problem gone", logging.WARNING))
    assert limit.filter(record("request refused", name="another.logger"))
    clock.advance(60.0)
    after = record("request refused")
    assert limit.filter(after)
    assert after.dropped_before == 480  # type: ignore[attr-defined]

"""Per-account request pacing."""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """Spaces requests at most ``rate`` per second, with a burst of ``burst``.

    A virtual-clock token bucket: one float of state, O(1) per request, and no
    timer or task of its own. Callers are served in the order they ask: each
    :meth:`reserve` returns how long its caller must wait.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._interval = 1.0 / rate
        self._burst_span = self._interval * max(1, burst)
        self._clock = clock
        self._next_free = clock()

    def reserve(self) -> float:
        """Take the next slot; the seconds to wait before using it (0 when it is free now)."""
        now = self._clock()
        # Unused capacity is kept for at most one burst, so an idle account
        # cannot save up a flood of requests.
        start = max(self._next_free, now - self._burst_span + self._interval)
        self._next_free = start + self._interval
        return start - now

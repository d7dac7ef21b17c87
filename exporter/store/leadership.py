"""Which replica serves the shared series: a leadership held through the store, for a while.

Every exporter sharing a store counts what it does itself (its API calls,
its intake requests), but the outcome series are the store's totals, the
same for all: were every replica to serve them, ``sum without (instance)``
would count each message N times. So one replica, the leader, serves them.

The leadership is a row in the store with an expiry on the database's
clock. The holder renews it every third of its time; it counts itself
leader only until the renewal it last saw succeed, plus the time, *measured
from before that renewal was sent*, so it stops serving before any other
replica can take over. A replica that stops cleanly resigns, and another
takes over at its next try; one that dies is replaced within the time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from sms_delivery_exporter.store.interface import Store, StoreError

log = logging.getLogger(__name__)


class Leadership:
    """Whether this exporter serves the shared series now."""

    def __init__(
        self, store: Store, ttl: float, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._until = 0.0

    @property
    def shared(self) -> bool:
        """The store is shared: leadership means something (else this exporter always leads)."""
        return self._store.lease is not None

    @property
    def leading(self) -> bool:
        return not self.shared or self._clock() < self._until

    async def renew(self) -> None:
        """Take or keep the leadership once; a store failure keeps what is left of it."""
        sent = self._clock()
        was = self.leading
        try:
            held = await self._store.lead(self._ttl)
        except StoreError:
            return  # leading until the last renewal runs out, not a moment longer
        self._until = sent + self._ttl if held else 0.0
        if held != was:
            log.info("leadership of the shared series " + ("taken" if held else "lost"))

    async def run(self) -> None:
        """Renew every third of the time until cancelled."""
        while True:
            await self.renew()
            await asyncio.sleep(self._ttl / 3)

    async def resign(self) -> None:
        self._until = 0.0
        await self._store.resign()


@contextlib.asynccontextmanager
async def leading(leadership: Leadership) -> AsyncIterator[None]:
    """The leadership renewed in the background for the block, resigned at its end."""
    if not leadership.shared:
        yield
        return
    await leadership.renew()
    task = asyncio.create_task(leadership.run(), name="leadership")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await leadership.resign()

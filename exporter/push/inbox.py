"""Keeping webhook events durably before their calls are acknowledged, many calls per commit.

A commit per call would cap webhooks at the disk's fsync rate. Calls that
arrive while a commit is under way wait for the next one, which carries them
all (group commit): a lone call is committed at once, a flood in a few large
transactions. Each call learns which of its events were new and which were
redeliveries of events kept before.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

from sms_delivery_exporter.store import NewPushEvent, Store, StoreError, StoreUnavailable


class Inbox:
    """Commits webhook events of every account, as many calls as are waiting per transaction."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._waiting: list[tuple[Sequence[NewPushEvent], asyncio.Future[list[int | None]]]] = []
        self._work = asyncio.Event()

    async def keep(self, events: Sequence[NewPushEvent]) -> list[int | None]:
        """Commit events; each one's id, or None for a redelivery. :class:`StoreUnavailable`."""
        self._store.health.check()
        future: asyncio.Future[list[int | None]] = asyncio.get_running_loop().create_future()
        self._waiting.append((events, future))
        self._work.set()
        return await future

    async def run(self) -> None:
        """Commit until cancelled; calls still waiting then are answered unavailable."""
        batch: list[tuple[Sequence[NewPushEvent], asyncio.Future[list[int | None]]]] = []
        try:
            while True:
                await self._work.wait()
                self._work.clear()
                while self._waiting:
                    batch, self._waiting = self._waiting, []
                    await self._commit(batch)
                    batch = []
        finally:
            # A commit cut short may have happened: the provider's retry is then a redelivery.
            for _, future in [*batch, *self._waiting]:
                if not future.done():
                    future.set_exception(StoreUnavailable("the exporter is stopping"))
            self._waiting = []

    async def _commit(
        self, batch: list[tuple[Sequence[NewPushEvent], asyncio.Future[list[int | None]]]]
    ) -> None:
        rows = [event for events, _ in batch for event in events]
        try:
            ids = await asyncio.shield(self._store.add_push_events(rows))
        except StoreError as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreUnavailable(str(exc)))
            return
        start = 0
        for events, future in batch:
            with contextlib.suppress(asyncio.InvalidStateError):  # the caller went away
                future.set_result(ids[start : start + len(events)])
            start += len(events)

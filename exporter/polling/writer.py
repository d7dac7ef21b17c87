"""Batched commits of poll results, shared by every account.

Committing each poll alone would cap the exporter at the disk's fsync rate;
gathering results for a few tens of milliseconds makes one transaction carry
thousands. The book is fed the rows only after their commit, and the refs
stay reserved by their poller until then, so nothing is polled twice or
counted before it is durable.

With a store of one process's (SQLite) the batch's series changes are summed
and committed with it. With a shared store each result carries its own
rows, committed only if its update is (the lease still held): a result from
a replica that lost its lease counts nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence

from sms_delivery_exporter.outcomes import Catalogue, OutcomeBook
from sms_delivery_exporter.polling.tracker import PollResult
from sms_delivery_exporter.store import Store, StoreError

log = logging.getLogger(__name__)


class Writer:
    """Collects ``(results, on_commit)`` and commits them in batches."""

    def __init__(
        self,
        store: Store,
        book: OutcomeBook,
        *,
        max_batch: int = 2000,
        max_delay: float = 0.05,
        retry_delay: float = 1.0,
        stop_timeout: float = 5.0,
    ) -> None:
        self._store = store
        self._book = book
        self._catalogue: Catalogue = book.catalogue
        self._max_batch = max_batch
        self._max_delay = max_delay
        self._retry_delay = retry_delay
        self._stop_timeout = stop_timeout
        self._shared = store.lease is not None
        self._results: list[PollResult] = []
        self._callbacks: list[Callable[[], None]] = []
        self._has_work = asyncio.Event()
        self._room = asyncio.Condition()

    def offer(self, results: Sequence[PollResult], on_commit: Callable[[], None]) -> bool:
        """Queue results unless the writer is far behind (then use :meth:`submit`)."""
        if len(self._results) >= 8 * self._max_batch:
            return False
        self._results.extend(results)
        self._callbacks.append(on_commit)
        self._has_work.set()
        return True

    async def submit(self, results: Sequence[PollResult], on_commit: Callable[[], None]) -> None:
        """Queue results; waits when far behind, so pollers cannot outrun the disk."""
        if len(self._results) >= 8 * self._max_batch:
            async with self._room:
                await self._room.wait_for(lambda: len(self._results) < 8 * self._max_batch)
        self._results.extend(results)
        self._callbacks.append(on_commit)
        self._has_work.set()

    async def run(self) -> None:
        """Commit until cancelled; then commit whatever is left."""
        try:
            while True:
                await self._has_work.wait()
                if len(self._results) < self._max_batch:
                    await asyncio.sleep(self._max_delay)
                await self.flush()
        finally:
            # A store that cannot commit must not hold SIGTERM up for ever: what is
            # left after stop_timeout is dropped (and logged), and simply polled again.
            await asyncio.shield(self.flush(give_up_after=self._stop_timeout))

    async def flush(self, *, give_up_after: float | None = None) -> None:
        """Commit what is queued, retrying while the store fails (``give_up_after`` s at most)."""
        if not self._callbacks:
            self._has_work.clear()
            return
        results, callbacks = self._results, self._callbacks
        self._results, self._callbacks = [], []
        self._has_work.clear()
        updates = [update for update, _ in results]
        if self._shared:
            for update, deltas in results:
                update.rows = self._catalogue.rows(deltas) if deltas else ()
            rows = []
        else:
            rows = self._catalogue.rows(delta for _, deltas in results for delta in deltas)
        started = time.monotonic()
        while True:
            try:
                committed = await asyncio.shield(self._store.apply(updates, rows))
                break
            except StoreError as exc:
                if give_up_after is not None and time.monotonic() - started >= give_up_after:
                    log.error(
                        "poll results not committed at shutdown: the store fails; those refs"
                        " are polled again after a restart (no acknowledged ref is lost)",
                        extra={
                            "refs": len(updates),
                            "series_rows": len(rows) + sum(len(u.rows) for u in updates),
                            "error": str(exc),
                        },
                    )
                    return
                # Disk full or locked: keep the results and try again; never drop them.
                log.error("cannot commit poll results, retrying", extra={"error": str(exc)})
                try:
                    await asyncio.sleep(self._retry_delay)
                except asyncio.CancelledError:
                    # Stopping: the batch surely failed, so it goes back for the last flush,
                    # which tries it once more and says what it drops.
                    self._results[:0] = results
                    self._callbacks[:0] = callbacks
                    raise
        self._book.add(committed)
        for callback in callbacks:
            callback()
        async with self._room:
            self._room.notify_all()

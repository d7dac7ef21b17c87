"""Watching the store while the exporter runs: each problem logged once, when it appears.

A store that silently stops keeping what it acknowledges is the worst
failure an exporter of counters can have: the file deleted under it, a full
disk, a read-only remount, a damaged page. The watch looks every few seconds
(a cheap look and a one-row write probe) and runs SQLite's quick integrity
check less often, on a connection of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

from sms_delivery_exporter.store.interface import Store

log = logging.getLogger(__name__)


async def watch_store(
    store: Store,
    *,
    interval: float,
    integrity_interval: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Check the store every ``interval`` seconds until cancelled, logging what changes."""
    last_integrity = clock()
    logged: dict[str, str] = {}
    while True:
        log_changes(store, logged)
        await asyncio.sleep(interval)
        integrity = clock() - last_integrity >= integrity_interval
        if integrity:
            last_integrity = clock()
        await store.check(integrity=integrity)


@contextlib.asynccontextmanager
async def watching(
    store: Store, *, interval: float, integrity_interval: float
) -> AsyncIterator[None]:
    """The watch running in the background for the duration of the block."""
    task = asyncio.create_task(
        watch_store(store, interval=interval, integrity_interval=integrity_interval),
        name="store watch",
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def log_changes(store: Store, logged: dict[str, str]) -> None:
    """Log problems that appeared or went away since the last call (``logged`` is its memory)."""
    problems = dict(store.health.problems)
    for kind, message in problems.items():
        if kind not in logged:
            log.error(
                "the store cannot keep what it acknowledges: /-/ready fails and the intake"
                " answers 503 until this is fixed",
                extra={"problem": kind, "error": message},
            )
    for kind in logged.keys() - problems.keys():
        log.warning("store problem gone", extra={"problem": kind})
    logged.clear()
    logged.update(problems)

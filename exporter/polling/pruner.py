"""Deleting refs finished longer ago than the store's retention."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sms_delivery_exporter.store import Store, StoreError

log = logging.getLogger(__name__)

PRUNE_EVERY = 600.0


async def prune_forever(
    store: Store, retention: float, clock: Callable[[], float] = time.time
) -> None:
    """Every PRUNE_EVERY seconds, delete finished refs past retention (in bounded chunks)."""
    while True:
        await asyncio.sleep(PRUNE_EVERY)
        try:
            removed = await store.prune(clock() - retention)
        except StoreError as exc:
            log.error("pruning finished refs failed", extra={"error": str(exc)})
            continue
        if removed:
            log.info("pruned finished refs", extra={"count": removed})

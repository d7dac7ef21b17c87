"""Forgetting applied webhook events once their dedupe window has passed."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping

from sms_delivery_exporter.config import Account
from sms_delivery_exporter.store import Store, StoreError

log = logging.getLogger(__name__)

PRUNE_EVERY = 60.0
CHUNK = 10_000


async def prune_events_forever(
    store: Store, accounts: Mapping[str, Account], clock: Callable[[], float] = time.time
) -> None:
    """Every PRUNE_EVERY seconds, per account, applied events past its dedupe window (all of
    them for an account whose push was turned off: no redelivery is expected)."""
    while True:
        await asyncio.sleep(PRUNE_EVERY)
        for name, account in accounts.items():
            window = account.push.dedupe_window if account.push is not None else 0.0
            before = clock() - window
            try:
                # In chunks, so that calls and polls get the store in between.
                for _ in range(100):
                    if await store.prune_push_events(name, before, CHUNK) < CHUNK:
                        break
            except StoreError as exc:
                log.error("pruning webhook events failed", extra={"error": str(exc)})

"""A simulator's webhooks: each status change posted as its provider would, warts included.

Each simulated message's whole timeline is known when it is created, so its
webhook calls are scheduled then: one per status change the provider pushes,
``push_delay`` after it (plus up to ``push_jitter`` at random, which reorders
them: a ``sent`` may come after its ``delivered``), some posted twice
(``push_duplicate_rate``) and some lost (``push_loss_rate``). A provider that
retries (SFMC's ENS) posts a lost one later instead; every provider retries a
call that got no 2xx answer, a few times.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections import Counter
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web

from sms_delivery_exporter.testing.messages import MessageFactory, SimMessage

log = logging.getLogger(__name__)

Render = Callable[[SimMessage, str, float], dict[str, Any] | None]
"""(message, stage, when it began) to one event's payload, or None where nothing is pushed."""
Encode = Callable[[list[dict[str, Any]]], tuple[bytes, dict[str, str]]]
"""Events of one call to its body and headers (a signature, a content type)."""

CONCURRENCY = 32
"""Calls in flight at once, as a provider's webhook workers would have."""


class Pusher:
    """Posts a simulator's webhook calls to the URL it is given."""

    def __init__(
        self,
        factory: MessageFactory,
        *,
        render: Render,
        encode: Encode,
        batch: int = 1,
        redeliver_lost: bool = False,
        attempts: int = 5,
    ) -> None:
        self._factory = factory
        self._render = render
        self._encode = encode
        self._batch = batch
        self._redeliver_lost = redeliver_lost
        self._attempts = attempts
        self.url: str | None = None
        """Where calls go; None: this simulator does not push."""
        self.stats: Counter[str] = Counter()
        """``events`` scheduled, ``calls`` posted, ``duplicates``, ``lost``, ``redelivered``,
        ``retried``, ``unsent`` (due after the URL was taken away), and answers by HTTP
        status."""
        self._queue: list[tuple[float, int, dict[str, Any], int]] = []
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._in_flight = 0

    @property
    def pending(self) -> int:
        """Events scheduled and not posted yet (lost ones included)."""
        return len(self._queue)

    @property
    def idle(self) -> bool:
        """Nothing scheduled and no call on the wire: ``stats`` counts every call made."""
        return not self._queue and not self._in_flight

    def schedule(self, message: SimMessage) -> None:
        """Schedule the calls of a message just created (nothing while no URL is set)."""
        if self.url is None:
            return
        scenario, rng = self._factory.scenario, self._factory.rng
        for when, stage in message.stages:
            payload = self._render(message, stage, when)
            if payload is None:
                continue
            self.stats["events"] += 1
            copies = 2 if rng.random() < scenario.push_duplicate_rate else 1
            self.stats["duplicates"] += copies - 1
            for _ in range(copies):
                due = when + scenario.push_delay + rng.random() * scenario.push_jitter
                if rng.random() < scenario.push_loss_rate:
                    self.stats["lost"] += 1
                    if not self._redeliver_lost:
                        continue
                    self.stats["redelivered"] += 1
                    due += scenario.push_retry_after
                self._put(due, payload, 0)
        self._wake.set()

    def _put(self, due: float, payload: dict[str, Any], attempt: int) -> None:
        heapq.heappush(self._queue, (due, next(self._order), payload, attempt))

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """A cleanup context for the simulator's app: posts calls while it runs."""
        task = asyncio.create_task(self.run())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def run(self) -> None:
        limit = asyncio.Semaphore(CONCURRENCY)
        calls: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession() as session:
            try:
                while True:
                    now = self._factory.clock()
                    due: list[tuple[dict[str, Any], int]] = []
                    while self._queue and self._queue[0][0] <= now:
                        _, _, payload, attempt = heapq.heappop(self._queue)
                        due.append((payload, attempt))
                    for start in range(0, len(due), self._batch):
                        await limit.acquire()
                        self._in_flight += 1
                        call = asyncio.create_task(
                            self._post(session, due[start : start + self._batch], limit)
                        )
                        calls.add(call)
                        call.add_done_callback(calls.discard)
                    await self._nap(now)
            finally:
                for call in calls:
                    call.cancel()

    async def _nap(self, now: float) -> None:
        timeout = 0.5 if not self._queue else min(max(self._queue[0][0] - now, 0.001), 0.5)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _post(
        self,
        session: aiohttp.ClientSession,
        events: list[tuple[dict[str, Any], int]],
        limit: asyncio.Semaphore,
    ) -> None:
        try:
            url = self.url
            if url is None:
                # The provider stopped posting (a subscription deleted) after these were due.
                self.stats["unsent"] += len(events)
                return
            body, headers = self._encode([payload for payload, _ in events])
            status: int | str
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    status = response.status
                    await response.read()
            except (aiohttp.ClientError, TimeoutError) as exc:
                status = type(exc).__name__
            self.stats["calls"] += 1
            self.stats[str(status)] += 1
            if isinstance(status, int) and 200 <= status < 300:
                return
            # No 2xx: tried again later, as providers do (a few times).
            for payload, attempt in events:
                if attempt + 1 < self._attempts:
                    self.stats["retried"] += 1
                    self._put(self._factory.clock() + 0.2 * 2**attempt, payload, attempt + 1)
            self._wake.set()
        finally:
            # After any retry is scheduled: ``idle`` is never true in between.
            self._in_flight -= 1
            limit.release()

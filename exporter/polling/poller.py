"""Polling one account: due refs out of the store, through the provider, back as results.

One dispatcher reads due refs (an index range scan, most overdue first) and
queues them in batches; ``concurrency`` workers take batches, call the
provider under the account's rate limit and hand the results to the shared
:class:`~.writer.Writer`. No task or timer per ref: a million tracked refs
cost rows in the store, not objects in memory. What a failure means for the
account is the :class:`~.governor.AccountGovernor`'s to decide.

Fairness: refs are in two priority classes (the tracker sets them). Class 0,
first polls and open messages, is served first whenever any of it is due;
class 1, read-receipt waits and the long tail polled at the longest
interval, gets what budget is left, one queue's worth at a time, so new
messages are never starved by old ones.

A shared store (PostgreSQL) leases the refs it hands out: the dispatcher
takes only a queue's worth at a time, a batch that waited past half its
lease (a long pause) is handed back rather than polled late, and so is a
batch left without a result (a pause, a stop), so that any replica may poll
it at once instead of when the lease runs out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from functools import partial

from pydantic import ValidationError

from sms_delivery_exporter.api import (
    AnyProvider,
    BadResponse,
    Provider,
    ProviderError,
    RefInvalid,
    RefModel,
    RefNotFound,
    RefOutcome,
    RefReport,
)
from sms_delivery_exporter.polling.governor import AccountGovernor, Verdict
from sms_delivery_exporter.polling.reservations import Reservations
from sms_delivery_exporter.polling.tracker import PollResult, Tracker
from sms_delivery_exporter.polling.writer import Writer
from sms_delivery_exporter.store import DueRef, Store, StoreError

log = logging.getLogger(__name__)

IDLE_WAKE = 1.0
"""Longest the dispatcher sleeps without looking at the store."""
SUMMARY_EVERY = 10.0
"""Seconds between two debug summaries of an account's polling."""


class AccountPoller:
    """Polls every due ref of one account until it is final."""

    def __init__(
        self,
        *,
        provider: AnyProvider,
        tracker: Tracker,
        governor: AccountGovernor,
        store: Store,
        writer: Writer,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.tracker = tracker
        self.governor = governor
        self.account = tracker.rules.account
        self._store = store
        self._writer = writer
        self._clock = clock
        settings = provider.settings
        self._concurrency = settings.concurrency
        self._batch_size = max(1, provider.batch_size)
        self._queue: asyncio.Queue[tuple[float, list[DueRef]]] = asyncio.Queue(
            maxsize=settings.concurrency
        )
        self.reservations = Reservations()
        """Refs being polled, or being changed by a webhook (which the dispatcher leaves alone)."""
        self._lease = store.lease
        self._unreported: dict[int, DueRef] = {}
        """Leased refs taken from the store whose results are not with the writer yet."""
        self._wake = asyncio.Event()
        self.reservations.on_release["poll"].append(self._wake.set)
        self._fetch_one_only = type(provider).fetch is Provider.fetch

    def wake(self) -> None:
        """New refs arrived: look at the store now rather than at the next idle wake."""
        self._wake.set()

    async def refresh_health(self) -> None:
        """Scrape-time gauges from the store: two indexed MIN queries."""
        health = self.governor.health
        health.next_poll_at = await self._store.next_poll_at(self.account)
        health.oldest_open_submitted_at = await self._store.oldest_open_submitted_at(self.account)

    async def run(self) -> None:
        """Poll until cancelled. Cancelling loses nothing: unreported polls simply happen again."""
        # A fresh start (also after a crash) forgets batches that were never reported.
        self._queue = asyncio.Queue(maxsize=self._concurrency)
        self.reservations.forget(by="poll")
        self._unreported.clear()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._summarise_forever())
                group.create_task(self._probe_forever())
                group.create_task(self._dispatch())
                for _ in range(self._concurrency):
                    group.create_task(self._work())
        finally:
            # Stopping or crashed: what was taken and not polled is due again for everyone.
            await asyncio.shield(self._hand_back(list(self._unreported.values())))

    async def _summarise_forever(self) -> None:
        """At debug level, what the account did in the last SUMMARY_EVERY seconds."""
        health = self.governor.health
        calls, errors = sum(health.requests.values()), sum(health.errors.values())
        while True:
            await asyncio.sleep(SUMMARY_EVERY)
            if not log.isEnabledFor(logging.DEBUG):
                continue
            now_calls, now_errors = sum(health.requests.values()), sum(health.errors.values())
            log.debug(
                "polling",
                extra={
                    "account": self.account,
                    "calls": now_calls - calls,
                    "failed": now_errors - errors,
                    "polling_now": self.reservations.held_by("poll"),
                    "paused_for": round(self.governor.paused_for(), 3),
                    "up": health.up,
                },
            )
            calls, errors = now_calls, now_errors

    async def _probe_forever(self) -> None:
        """Check the credentials now and every ``probe_interval``, traffic or not."""
        interval = self.provider.settings.probe_interval
        while True:
            try:
                probe = await self.provider.probe()
            except ProviderError as error:
                log.debug(
                    "credential check failed", extra={"account": self.account, "kind": error.kind}
                )
                self.governor.failed(error)
            except Exception as exc:  # a plugin bug: logged and counted, never fatal
                self.governor.crashed(exc)
            else:
                if probe is None:
                    return  # this API has no probe: health follows traffic alone
                log.debug("credentials checked", extra={"account": self.account})
                self.governor.answered()
                if probe.balance is not None:
                    self.governor.health.balance = (probe.balance, probe.currency or "unknown")
            await asyncio.sleep(interval)

    async def _dispatch(self) -> None:
        queue_size = self._batch_size * self._concurrency
        # What a shared store hands out is leased: take no more than the workers can start on.
        first_take = queue_size if self._lease is not None else queue_size * 4
        # Per class, a cursor walks the due refs in schedule order, so that refs
        # already handed out are not read again; a pass ends when no due ref is
        # left after it, and the next pass starts at the head again.
        cursors: list[tuple[float, int] | None] = [None, None]
        while True:
            await self._wait_unpaused()
            now = self._clock()
            self._wake.clear()
            fresh = await self._take(0, now, first_take, cursors)
            if not fresh:
                # Only what is left after every first poll and open message.
                fresh = await self._take(1, now, queue_size, cursors)
            if not fresh:
                # Nothing due, or every due ref is being polled right now.
                await self._idle(now, all_reserved=bool(self.reservations.held_by("poll")))
                continue
            if self._lease is not None:
                self._unreported.update((row.id, row) for row in fresh)
            taken = time.monotonic()
            for start in range(0, len(fresh), self._batch_size):
                batch = fresh[start : start + self._batch_size]
                await self._queue.put((taken, batch))

    async def _take(
        self, priority: int, now: float, limit: int, cursors: list[tuple[float, int] | None]
    ) -> list[DueRef]:
        """Due refs of one class not held already, continuing the class's pass; held from now.

        All of them are held at once, before the dispatcher awaits anything else, so that
        no webhook changes a ref between this read and its poll's commit.
        """
        reservations = self.reservations
        for _ in range(3):  # the rest of a pass, then once more from the head
            reservations.begin_read(by="poll")
            rows = await self._store.due_refs(self.account, now, limit, cursors[priority], priority)
            if not rows:
                if cursors[priority] is None:
                    return []
                cursors[priority] = None
                continue
            last_due, last_row = rows[-1]
            cursors[priority] = (last_due, last_row.id)
            fresh: list[DueRef] = []
            busy: list[DueRef] = []
            for _, row in rows:
                pushed = row.id in reservations or reservations.changed_since_read(
                    row.id, by="poll"
                )
                (busy if pushed else fresh).append(row)
            reservations.hold((row.id for row in fresh), by="poll")
            if busy and self._lease is not None:
                # Leased by this read while a webhook is being applied to them: handed
                # back, not left unpolled by every replica until the lease runs out.
                with contextlib.suppress(StoreError):
                    await self._store.release(busy)
            if fresh:
                return fresh
        return []

    async def _idle(self, now: float, *, all_reserved: bool) -> None:
        """Sleep until the next ref is due, new refs arrive, or reserved refs come back."""
        timeout = IDLE_WAKE
        if not all_reserved:
            due = await self._store.next_poll_at(self.account)
            if due is not None:
                timeout = min(max(due - now, 0.005), IDLE_WAKE)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)

    async def _wait_unpaused(self) -> None:
        # The pause is a deadline that a later 429 may push back, so look again after each nap.
        while (remaining := self.governor.paused_for()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, IDLE_WAKE))

    def _release(self, batch: Sequence[DueRef], *, committed: bool) -> None:
        self.reservations.release((row.id for row in batch), by="poll", changed=committed)

    async def _hand_back(self, batch: Sequence[DueRef]) -> None:
        """Refs taken and not polled: leases given back in the store, then reservations."""
        if self._lease is not None and batch:
            for row in batch:
                self._unreported.pop(row.id, None)
            try:
                await self._store.release(batch)
            except StoreError as exc:  # the leases run out by themselves
                log.warning("could not hand refs back", extra={"error": str(exc)})
        self._release(batch, committed=False)

    def _reported(self, batch: Sequence[DueRef]) -> None:
        """The batch's results are with the writer: its leases end with their commit."""
        if self._lease is not None:
            for row in batch:
                self._unreported.pop(row.id, None)

    async def _work(self) -> None:
        while True:
            taken, batch = await self._queue.get()
            if self.governor.paused_for() > 0:
                await self._wait_unpaused()
            if self._lease is not None and time.monotonic() - taken > self._lease / 2:
                # Held through a long pause: polled now, its lease could run out before the
                # commit (and another replica poll it too). Any replica may take it again.
                await self._hand_back(batch)
                continue
            refs, readable, unreadable = self._parse(batch)
            outcomes: list[RefOutcome] = []
            failure: Exception | None = None
            # The provider is awaited right here, not in a helper coroutine: every
            # await level is paid again at each resumption of the request.
            if readable:
                try:
                    if self._fetch_one_only and len(refs) == 1:
                        try:
                            outcomes = [await self.provider.fetch_one(refs[0])]
                        except (RefNotFound, RefInvalid) as gone:
                            outcomes = [gone]
                    else:
                        outcomes = await self.provider.fetch(refs)
                except Exception as exc:  # classified by _results, never fatal
                    failure = exc
            results = self.conclude(readable, unreadable, outcomes, failure)
            if results is None:
                await self._hand_back(batch)
                continue
            self._reported(batch)
            release = partial(self._release, batch, committed=True)
            if not self._writer.offer(results, release):
                await self._writer.submit(results, release)

    def conclude(
        self,
        readable: list[DueRef],
        unreadable: list[DueRef],
        outcomes: list[RefOutcome],
        failure: Exception | None,
    ) -> list[PollResult] | None:
        """What one call means: results for every ref of the batch, or None to leave them untouched.

        ``outcomes`` are the provider's answers for ``readable`` (in order), or ``failure``
        what it raised; ``unreadable`` refs are ones the plugin can no longer parse.
        """
        now = self._clock()
        invalid = RefInvalid("stored ref no longer valid")
        results = [self.tracker.gone(row, invalid, now) for row in unreadable]
        if not readable:
            return results
        if failure is None and len(outcomes) != len(readable):
            failure = BadResponse(
                f"provider returned {len(outcomes)} outcomes for {len(readable)} refs"
            )
        if failure is not None:
            if isinstance(failure, ProviderError):
                verdict = self.governor.failed(failure)
            else:
                verdict = self.governor.crashed(failure)
            if verdict is Verdict.UNTOUCHED:
                return None
            return results + [self.tracker.failed(row, now) for row in readable]
        self.governor.answered()
        for row, outcome in zip(readable, outcomes, strict=True):
            results.append(self._apply(row, outcome, now))
        return results

    def _apply(self, row: DueRef, outcome: RefOutcome, now: float) -> PollResult:
        if isinstance(outcome, RefReport):
            return self.tracker.report(row, outcome, now)
        result = self.tracker.gone(row, outcome, now)
        if result[0].next_poll_at is None:  # a 404 in the grace period is asked again
            self.governor.gave_up(outcome)
        return result

    def _parse(self, batch: list[DueRef]) -> tuple[list[RefModel], list[DueRef], list[DueRef]]:
        """Refs as the provider's model; rows a changed plugin can no longer read are set apart."""
        refs: list[RefModel] = []
        readable: list[DueRef] = []
        unreadable: list[DueRef] = []
        for row in batch:
            try:
                refs.append(self.provider.Ref.model_validate_json(row.ref_key))
                readable.append(row)
            except ValidationError:
                unreadable.append(row)
        return refs, readable, unreadable

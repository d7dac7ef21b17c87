"""Applying kept webhook events to the refs they tell of, after their calls were acknowledged.

Events come from the inbox as their calls commit, and from the store at start
(those a crash or a stop left unapplied). For each account, a round finds the
events' refs, holds them against the poller (see
:class:`~sms_delivery_exporter.polling.Reservations`), lets the account's
tracker apply them with the lifecycle rules of polls, and commits the refs,
the series they changed and the events' "applied" marks in one transaction;
the book gets the rows after that commit. An event is so applied exactly
once, whatever crashes.

An event whose ref is not tracked waits up to ``push.registration_grace`` for
the application to register it (a webhook can outrun the intake call), then
is counted ``unknown_message`` and dropped, or, with
``push.track_unregistered``, starts tracking it at once. An event whose ref
a poll holds waits for the poll's commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
import time
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sms_delivery_exporter.config import Account
from sms_delivery_exporter.intake.sampling import sampled_in
from sms_delivery_exporter.metrics import PushHealth
from sms_delivery_exporter.outcomes import OutcomeBook
from sms_delivery_exporter.polling import Reservations, Tracker
from sms_delivery_exporter.push.events import KeptEvent, decode
from sms_delivery_exporter.store import FoundRef, NewRef, RefUpdate, Store, StoreError

log = logging.getLogger(__name__)

ROUND = 2_000
"""Events applied in one transaction at most."""
GATHER = 0.05
"""Seconds a round waits for more events to come, as the poll writer does."""
RETRY_AFTER_FAILURE = 1.0
ORPHAN_AGE = 86_400.0
"""With a store shared by replicas, an event of an account this replica does not know
(or cannot read) is left to the others this long before it is dropped."""
FIRST_LOOK_AGAIN = 0.25
"""An event of a ref not registered yet looks again after this, then after its age doubles."""


@dataclass
class Applying:
    """What the applier needs of one account (its tracker and reservations are its poller's)."""

    account: Account
    tracker: Tracker
    reservations: Reservations
    health: PushHealth | None
    """None for an account without push on (its events left from before are still applied)."""


class PushApplier:
    """Applies kept webhook events of every account, in order of arrival per ref."""

    def __init__(
        self, *, store: Store, book: OutcomeBook, clock: Callable[[], float] = time.time
    ) -> None:
        self._store = store
        self._book = book
        self._clock = clock
        self._accounts: dict[str, Applying] = {}
        self._ready: deque[KeptEvent] = deque()
        self._later: list[tuple[float, int, KeptEvent]] = []
        self._blocked: dict[str, list[KeptEvent]] = defaultdict(list)
        self._queued: set[int] = set()
        """Ids of the events above: one read back from the store while the inbox hands it
        over too is applied once."""
        self._order = itertools.count()
        self._work = asyncio.Event()

    @property
    def backlog(self) -> int:
        """Events kept and not applied yet (those of a round under way too)."""
        return len(self._queued)

    @property
    def waiting(self) -> int:
        """Events put off: for their ref's registration, a poll's commit, or a store failure."""
        return len(self._later) + sum(len(events) for events in self._blocked.values())

    def attach(self, name: str, applying: Applying) -> None:
        self._accounts[name] = applying
        applying.reservations.on_release["poll"].append(lambda: self._unblock(name))

    def enqueue(self, events: Sequence[KeptEvent]) -> None:
        """Events just committed by the inbox."""
        self._take(events)
        self._work.set()

    def _take(self, events: Sequence[KeptEvent]) -> None:
        for event in events:
            if event.id not in self._queued:
                self._queued.add(event.id)
                self._ready.append(event)

    async def run(self) -> None:
        """Apply what the store kept unapplied, then whatever comes, until cancelled.

        A restart (after a bug) starts from the store again: what was in memory is in it.
        With a store shared by replicas, events another replica kept and never applied
        (it died) are taken up every lease; were it alive after all, each event still
        applies once (see :meth:`Store.apply_push`).
        """
        self._ready.clear()
        self._later.clear()
        self._blocked.clear()
        self._queued.clear()
        for applying in self._accounts.values():
            applying.reservations.forget(by="push")
        await self._resume()
        lease = self._store.lease
        swept_at = self._clock()
        while True:
            if lease is not None and self._clock() >= swept_at + lease:
                swept_at = self._clock()
                await self._resume(received_before=swept_at - lease - self._longest_grace())
            self._promote(self._clock())
            if not self._ready:
                await self._sleep()
                continue
            if len(self._ready) < ROUND:
                # Gather a moment: a round costs two store calls whatever its size, and
                # the store's thread also commits the calls waiting for their answer.
                await asyncio.sleep(GATHER)
            events = [self._ready.popleft() for _ in range(min(ROUND, len(self._ready)))]
            by_account: dict[str, list[KeptEvent]] = defaultdict(list)
            for event in events:
                by_account[event.account].append(event)
            for name, group in by_account.items():
                await self._apply(name, group)

    def _longest_grace(self) -> float:
        graces = [
            a.account.push.registration_grace for a in self._accounts.values() if a.account.push
        ]
        return max(graces, default=0.0)

    async def _resume(self, received_before: float | None = None) -> None:
        """Take the events kept and not applied: at start, all of them; with a shared store,
        every lease, those older than any replica would still hold (one that died left them)."""
        after, dropped, known = 0, 0, len(self._queued)
        while True:
            try:
                rows = await self._store.pending_push_events(after, received_before=received_before)
            except StoreError as exc:
                log.error("cannot read webhook events kept before", extra={"error": str(exc)})
                await asyncio.sleep(RETRY_AFTER_FAILURE)
                continue
            if not rows:
                break
            after = rows[-1].id
            kept: list[KeptEvent] = []
            orphans: list[int] = []
            for row in rows:
                if row.id in self._queued:
                    continue  # in memory already (a shared store's sweep reads it again)
                try:
                    event = decode(row.id, row.account, row.received_at, row.event)
                except (ValueError, KeyError, TypeError, IndexError):
                    event = None
                if event is not None and row.account in self._accounts:
                    kept.append(event)
                elif self._store.lease is None or row.received_at < self._clock() - ORPHAN_AGE:
                    orphans.append(row.id)
                # else: another replica's (its config or version newer than this one's
                # during a rolling update): left for a replica that knows it.
            self._take(kept)
            if orphans:
                dropped += len(orphans)
                await self._commit(orphans)
        if len(self._queued) > known or dropped:
            log.info(
                "resuming webhook events kept before",
                extra={"events": len(self._queued) - known, "dropped": dropped},
            )

    async def _sleep(self) -> None:
        timeout = 1.0
        if self._later:
            timeout = min(max(self._later[0][0] - self._clock(), 0.001), timeout)
        self._work.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._work.wait(), timeout)

    def _promote(self, now: float) -> None:
        while self._later and self._later[0][0] <= now:
            self._ready.append(heapq.heappop(self._later)[2])

    def _retry(self, event: KeptEvent, at: float) -> None:
        heapq.heappush(self._later, (at, next(self._order), event))

    def _unblock(self, name: str) -> None:
        blocked = self._blocked.pop(name, None)
        if blocked:
            self._ready.extend(blocked)
            self._work.set()

    async def _apply(self, name: str, events: list[KeptEvent]) -> None:
        applying = self._accounts[name]
        reservations = applying.reservations
        now = self._clock()
        reservations.begin_read(by="push")
        try:
            refs, created, done = await self._find(applying, events, now)
        except StoreError as exc:
            self._failed(events, exc, now)
            return
        result_of: dict[int, str] = dict(done)
        by_ref: dict[int, list[KeptEvent]] = defaultdict(list)
        for event in events:
            found = refs.get(event.ref_key)
            if event.id in done or found is None:
                continue  # done without a ref, or waiting for its registration
            ref_id = found.ref.id
            if found.next_poll_at is None:
                result_of[event.id] = "finished"
            elif ref_id in reservations:
                self._blocked[name].append(event)  # a poll holds it: after its commit
            elif reservations.changed_since_read(ref_id, by="push"):
                self._ready.append(event)  # a poll committed since the read: read it again
            else:
                by_ref[ref_id].append(event)
        updates: list[RefUpdate] = []
        pairs = [(event_id, 0) for event_id in result_of]
        for ref_id, group in by_ref.items():
            found = refs[group[0].ref_key]
            assert found.next_poll_at is not None
            seen = [(event.observation, event.received_at) for event in group]
            update, deltas = applying.tracker.pushed(found.ref, found.next_poll_at, seen, now)
            update.rows = self._book.catalogue.rows(deltas)
            updates.append(update)
            for event in group:
                result_of[event.id] = "applied"
                pairs.append((event.id, ref_id))
            if group[0].ref_key in created:
                result_of[group[0].id] = "tracked"
        holding = list(by_ref)
        reservations.hold(holding, by="push")
        try:
            commit = await self._store.apply_push(updates, pairs)
        except StoreError as exc:
            reservations.release(holding, by="push")
            self._failed([e for e in events if e.id in result_of], exc, now)
            return
        self._book.add(commit.rows)
        reservations.release(holding, by="push", changed=True)
        results: Counter[str] = Counter()
        applied: list[KeptEvent] = []
        for event in events:
            if event.id not in result_of:
                continue
            if event.id in commit.applied:
                results[result_of[event.id]] += 1
                if result_of[event.id] in ("applied", "tracked"):
                    applied.append(event)
            elif event.id not in commit.stale:
                # Its ref changed since it was read (another replica polled or applied
                # to it): read it again. A stale one another replica applied: done.
                self._ready.append(event)
                continue
            self._queued.discard(event.id)
        self._count(applying, results, applied)

    async def _find(
        self, applying: Applying, events: list[KeptEvent], now: float
    ) -> tuple[dict[str, FoundRef], set[str], dict[int, str]]:
        """The events' refs by key, the keys tracked just now, and events done without a ref."""
        store, name = self._store, applying.account.name
        keys = list(dict.fromkeys(event.ref_key for event in events))
        refs = {found.ref.ref_key: found for found in await store.find_refs(name, keys)}
        done: dict[int, str] = {}
        unknown = [event for event in events if event.ref_key not in refs]
        if not unknown:
            return refs, set(), done
        push = applying.account.push
        rate = applying.account.settings.sample_rate
        untracked: list[KeptEvent] = []
        later: list[tuple[KeptEvent, float]] = []
        for event in unknown:
            if not sampled_in(name, event.ref_key, rate):
                done[event.id] = "sampled_out"
            elif push is not None and push.track_unregistered:
                untracked.append(event)
            elif push is not None and now < event.received_at + push.registration_grace:
                age = max(now - event.received_at, FIRST_LOOK_AGAIN)
                later.append((event, min(now + age, event.received_at + push.registration_grace)))
            else:
                done[event.id] = "unknown_message"
        created: set[str] = set()
        if untracked:
            created = await self._track(applying, untracked, now)
            refs.update(
                (found.ref.ref_key, found)
                for found in await store.find_refs(
                    name, list(created | {e.ref_key for e in untracked})
                )
            )
        # Put off only now: were a store call above to fail, the caller retries them all.
        for event, at in later:
            self._retry(event, at)
        return refs, created, done

    async def _track(self, applying: Applying, events: list[KeptEvent], now: float) -> set[str]:
        """Start tracking messages first heard of by webhooks; the keys that were new."""
        account = applying.account
        first: dict[str, float] = {}
        for event in events:
            seen = event.observation
            when = min(
                t for t in (seen.accepted_at, seen.changed_at, event.received_at) if t is not None
            )
            # A provider's time from before the tracking window would expire it at once.
            when = max(when, now - account.schedule.tracking_window)
            first[event.ref_key] = min(first.get(event.ref_key, now), when, now)
        catalogue = self._book.catalogue
        new_refs = []
        for key, submitted_at in first.items():
            recorder = applying.tracker.recorder("")
            recorder.tracked(pushed=True)
            new_refs.append(
                NewRef(
                    account=account.name,
                    ref_key=key,
                    labels="",
                    submitted_at=submitted_at,
                    tracked_at=now,
                    next_poll_at=submitted_at + account.schedule.first_poll,
                    rows=catalogue.rows(recorder.deltas),
                )
            )
        result = await self._store.insert_refs(new_refs)
        self._book.add(result.rows)
        return {ref.ref_key for ref, new in zip(new_refs, result.new, strict=True) if new}

    def _failed(self, events: list[KeptEvent], exc: StoreError, now: float) -> None:
        """The store failed: the events stay kept, and are tried again shortly."""
        log.error("cannot apply webhook events, retrying", extra={"error": str(exc)})
        for event in events:
            self._retry(event, now + RETRY_AFTER_FAILURE)

    async def _commit(self, event_ids: list[int]) -> None:
        with contextlib.suppress(StoreError):  # tried again at the next start
            await self._store.apply_push([], [(event_id, 0) for event_id in event_ids])

    def _count(self, applying: Applying, results: Counter[str], applied: list[KeptEvent]) -> None:
        health = applying.health
        if health is None:
            return
        for result, count in results.items():
            health.counted(result, count)
        now = self._clock()
        for event in applied:
            if event.event_time is not None:
                health.delayed(now - event.event_time)

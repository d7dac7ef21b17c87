"""The PostgreSQL store on a real cluster: leases between replicas, stale results, leadership.

Two stores on one database are two replicas: what one has leased the other
does not get; a result committed after its lease was lost changes and counts
nothing; a batch handed back is due again at once; one of them leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
import pytest

from sms_delivery_exporter.config import StoreConfig
from sms_delivery_exporter.outcomes import Catalogue, OutcomeBook
from sms_delivery_exporter.push.applier import PushApplier
from sms_delivery_exporter.store import (
    DueRef,
    Leadership,
    NewPushEvent,
    NewRef,
    PostgresStore,
    RefUpdate,
    StoreError,
    store_for,
)
from tests.conftest import FakeClock
from tests.helpers import wait_for
from tests.postgres import PASSWORD

FINAL = ("sms_messages_final_total", '{"status":"delivered"}')
Open = Callable[..., Awaitable[PostgresStore]]


@pytest.fixture
async def open_store(postgres_url: str) -> AsyncIterator[Open]:
    """Open replicas' stores on one fresh database: ``await open_store(lease=...)``."""
    opened: list[PostgresStore] = []

    async def open_one(lease: float = 30.0) -> PostgresStore:
        store = store_for(StoreConfig(url=postgres_url, lease=lease))
        assert isinstance(store, PostgresStore)
        await store.open()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        await store.close()


def new(key: str, due: float, priority_rows: float = 0.0) -> NewRef:
    rows = [("sms_messages_tracked_total", "{}", 1.0)] if priority_rows else []
    return NewRef("a", key, "", due - 1, due - 1, due, rows)


def delivered(row: DueRef, amount: float = 1.0) -> RefUpdate:
    """The ref's message delivered: finished, counted once, with the version its poll read."""
    return RefUpdate(
        row.id,
        '{"":["delivered","sms",0,null]}',
        row.polls + 1,
        10.0,
        None,
        10.0,
        in_flight=False,
        version=row.version,
        rows=[(*FINAL, amount)],
    )


def final_count(series: list[tuple[str, str, float]]) -> float:
    return sum(value for name, labels, value in series if (name, labels) == FINAL)


class TestLeases:
    """Due refs go to one replica at a time, and come back when its lease is gone."""

    async def test_replicas_never_get_the_same_ref(self, open_store: Open) -> None:
        first, second = await open_store(), await open_store()
        await first.insert_refs([new(f"r{n}", 5 + n) for n in range(10)])
        a = await first.due_refs("a", 100, 4)
        b = await second.due_refs("a", 100, 100)
        assert [row.ref_key for _, row in a] == ["r0", "r1", "r2", "r3"]  # most overdue first
        assert sorted(row.ref_key for _, row in b) == [f"r{n}" for n in range(4, 10)]
        assert await first.due_refs("a", 100, 100) == []
        # Nothing left to take: the next due time is none of the leased ones.
        assert await second.next_poll_at("a") is None

    async def test_a_dead_replicas_refs_come_back_after_its_lease(self, open_store: Open) -> None:
        dead, alive = await open_store(lease=1.0), await open_store(lease=1.0)
        await dead.insert_refs([new("x", 1)])
        [(_, taken)] = await dead.due_refs("a", 100, 10)
        assert await alive.due_refs("a", 100, 10) == []

        async def retaken() -> list[tuple[float, DueRef]]:
            return await alive.due_refs("a", 100, 10)

        [(_, row)] = await wait_for(retaken, timeout=10, what="the lease to run out")
        assert row.id == taken.id and row.version > taken.version

    async def test_handed_back_refs_are_due_at_once(self, open_store: Open) -> None:
        first, second = await open_store(lease=600), await open_store(lease=600)
        await first.insert_refs([new("x", 1), new("y", 2)])
        taken = [row for _, row in await first.due_refs("a", 100, 10)]
        await first.release(taken)
        assert sorted(row.ref_key for _, row in await second.due_refs("a", 100, 10)) == ["x", "y"]

    async def test_priority_classes_are_taken_apart(self, open_store: Open) -> None:
        store = await open_store()
        await store.insert_refs([new("first", 1), new("tail", 1)])
        [(_, first), (_, tail)] = await store.due_refs("a", 100, 10)
        moved = RefUpdate(tail.id, "", 1, 2.0, 3.0, None, state_changed=False, priority=1,
                          version=tail.version)  # fmt: skip
        again = RefUpdate(first.id, "", 1, 2.0, 3.0, None, state_changed=False,
                          version=first.version)  # fmt: skip
        await store.apply([moved, again])
        assert [row.ref_key for _, row in await store.due_refs("a", 100, 10, priority=0)] == [
            "first"
        ]
        assert [row.ref_key for _, row in await store.due_refs("a", 100, 10, priority=1)] == [
            "tail"
        ]


class TestStaleResults:
    """A replica that stalled past its lease commits nothing and counts nothing."""

    async def test_a_stale_commit_changes_and_counts_nothing(self, open_store: Open) -> None:
        slow, fast = await open_store(lease=1.0), await open_store(lease=1.0)
        await slow.insert_refs([new("x", 1)])
        [(_, stale)] = await slow.due_refs("a", 100, 10)  # slow stalls past its lease ...

        async def retaken() -> list[tuple[float, DueRef]]:
            return await fast.due_refs("a", 100, 10)

        [(_, fresh)] = await wait_for(retaken, timeout=10, what="the lease to run out")
        # ... fast polls the ref, sees it delivered, and counts it.
        assert await fast.apply([delivered(fresh)]) == [(*FINAL, 1.0)]
        # Then slow commits what it saw: a delivery too, with the version it had read.
        assert await slow.apply([delivered(stale, amount=5.0)]) == []
        assert final_count(await fast.series()) == 1.0
        assert await fast.count_refs(open_only=True) == 0
        # Committing the same result again (a retry after a lost answer) counts nothing either.
        assert await fast.apply([delivered(fresh)]) == []
        assert final_count(await fast.series()) == 1.0

    async def test_the_batch_commits_the_results_still_leased(self, open_store: Open) -> None:
        slow, fast = await open_store(lease=1.0), await open_store(lease=30.0)
        await slow.insert_refs([new("x", 1)])
        [(_, stale)] = await slow.due_refs("a", 100, 10)
        await slow.insert_refs([new("y", 200)])

        async def retaken() -> list[tuple[float, DueRef]]:
            return await fast.due_refs("a", 100, 10)

        await wait_for(retaken, timeout=10, what="the lease to run out")
        [(_, mine)] = await slow.due_refs("a", 300, 10)
        committed = await slow.apply([delivered(stale, 5.0), delivered(mine, 1.0)])
        assert committed == [(*FINAL, 1.0)]
        assert final_count(await slow.series()) == 1.0


SENT = ("sms_messages_sent_seen_total", "{}")


def sent(row: DueRef) -> RefUpdate:
    """The ref's message seen sent by a webhook: still open, one series row."""
    return RefUpdate(
        row.id,
        '{"":["sent","sms",0,null]}',
        row.polls,
        None,
        1000.0,
        None,
        version=row.version,
        rows=[(*SENT, 1.0)],
    )


async def waiting_on_locks(connection: psycopg.AsyncConnection[Any], count: int) -> bool:
    cursor = await connection.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    )
    row = await cursor.fetchone()
    return row is not None and row[0] == count


def event(key: str, received_at: float = 1.0) -> NewPushEvent:
    return NewPushEvent("a", key, received_at, '{"ref":"x"}')


class TestWebhookInbox:
    """Replicas share the inbox: any may receive a redelivery, any may apply an event kept
    by another, and each event applies once."""

    async def test_a_redelivery_to_another_replica_is_a_duplicate(self, open_store: Open) -> None:
        one, two = await open_store(), await open_store()
        [first, again] = await one.add_push_events([event("k1"), event("k1")])
        assert first is not None and again is None
        [redelivered, other] = await two.add_push_events([event("k1"), event("k2")])
        assert redelivered is None and other is not None
        assert [row.id for row in await one.pending_push_events()] == [first, other]

    async def test_an_event_two_replicas_apply_counts_once(self, open_store: Open) -> None:
        one, two = await open_store(), await open_store()
        await one.insert_refs([new("x", 1000)])
        [kept] = await one.add_push_events([event("k1")])
        assert kept is not None
        # Both read the ref (a live replica, and one taking up its events as left over).
        [found_one] = await one.find_refs("a", ["x"])
        [found_two] = await two.find_refs("a", ["x"])
        first = await one.apply_push([delivered(found_one.ref)], [(kept, found_one.ref.id)])
        assert (first.rows, first.applied, first.stale) == ([(*FINAL, 1.0)], {kept}, set())
        # The second one's commit finds the event applied: it changes and counts nothing.
        late = await two.apply_push([delivered(found_two.ref)], [(kept, found_two.ref.id)])
        assert (late.rows, late.applied, late.stale) == ([], set(), {kept})
        # Even against the ref read again (finished now, at its new version).
        [again] = await two.find_refs("a", ["x"])
        assert again.next_poll_at is None and again.ref.version > found_two.ref.version
        redo = await two.apply_push([delivered(again.ref)], [(kept, again.ref.id)])
        assert (redo.rows, redo.applied, redo.stale) == ([], set(), {kept})
        assert final_count(await one.series()) == 1.0
        assert await one.pending_push_events() == []

    async def test_two_replicas_applying_at_the_same_moment_count_once(
        self, open_store: Open, postgres_url: str
    ) -> None:
        one, two = await open_store(), await open_store()
        await one.insert_refs([new("x", 1000)])
        [kept] = await one.add_push_events([event("k1")])
        assert kept is not None
        [found] = await one.find_refs("a", ["x"])
        update, pair = delivered(found.ref), (kept, found.ref.id)
        # A lock on the ref holds both statements until both have taken their snapshot.
        async with await psycopg.AsyncConnection.connect(postgres_url) as locker:
            async with locker.transaction():
                await locker.execute("SELECT 1 FROM refs WHERE id = %s FOR UPDATE", (found.ref.id,))
                racing = [
                    asyncio.ensure_future(store.apply_push([update], [pair]))
                    for store in (one, two)
                ]

                await wait_for(
                    lambda: waiting_on_locks(locker, 2),
                    timeout=10,
                    what="both commits waiting on the ref",
                )
            first, second = await asyncio.gather(*racing)
        # One applied it; the other waited for its commit and found the event applied.
        winner, loser = (first, second) if first.applied else (second, first)
        assert (winner.applied, winner.stale) == ({kept}, set())
        assert (loser.rows, loser.applied, loser.stale) == ([], set(), {kept})
        assert final_count(await one.series()) == 1.0

    async def test_a_webhook_on_a_ref_another_replica_polls_waits(self, open_store: Open) -> None:
        poller, pusher = await open_store(), await open_store()
        await poller.insert_refs([new("x", 1)])
        [kept] = await pusher.add_push_events([event("k1")])
        assert kept is not None
        [found] = await pusher.find_refs("a", ["x"])
        [(_, leased)] = await poller.due_refs("a", 100, 10)  # a poll takes it meanwhile
        missed = await pusher.apply_push([delivered(found.ref)], [(kept, found.ref.id)])
        assert (missed.applied, missed.stale) == (set(), set())
        assert [row.id for row in await pusher.pending_push_events()] == [kept]
        assert await poller.apply([delivered(leased)]) == [(*FINAL, 1.0)]
        # Read again after the poll's commit: the event applies (to a finished ref: no count).
        [found] = await pusher.find_refs("a", ["x"])
        assert found.next_poll_at is None
        done = await pusher.apply_push([], [(kept, 0)])
        assert done.applied == {kept}
        assert final_count(await poller.series()) == 1.0

    async def test_an_event_pruned_meanwhile_is_done_with(self, open_store: Open) -> None:
        """A replica still holding an event another applied and the pruner has forgotten
        since (its dedupe window passed): nothing changes, and it is not retried forever."""
        one, two = await open_store(), await open_store()
        await one.insert_refs([new("x", 1000)])
        [kept] = await one.add_push_events([event("k1", received_at=1.0)])
        assert kept is not None
        [found] = await one.find_refs("a", ["x"])
        assert (await one.apply_push([sent(found.ref)], [(kept, found.ref.id)])).applied == {kept}
        assert await one.prune_push_events("a", received_before=10.0) == 1
        [again] = await two.find_refs("a", ["x"])
        late = await two.apply_push([sent(again.ref)], [(kept, again.ref.id)])
        assert (late.rows, late.applied, late.stale) == ([], set(), {kept})
        [after] = await two.find_refs("a", ["x"])
        assert after.ref.version == again.ref.version  # the ref untouched
        assert (await two.apply_push([], [(kept, 0)])).stale == {kept}
        assert sum(v for n, _, v in await one.series() if n == SENT[0]) == 1.0

    async def test_a_mark_without_a_ref_racing_an_update_with_one(
        self, open_store: Open, postgres_url: str
    ) -> None:
        """Replica a gives up on an event (no ref registered in its grace) while b, which
        found the ref registered just in time, applies it: one of the two, never both."""
        a, b = await open_store(), await open_store()
        [kept] = await a.add_push_events([event("k1")])
        assert kept is not None
        await b.insert_refs([new("x", 1000)])
        [found] = await b.find_refs("a", ["x"])
        async with await psycopg.AsyncConnection.connect(postgres_url) as locker:
            async with locker.transaction():
                await locker.execute("SELECT 1 FROM push_events WHERE id = %s FOR UPDATE", (kept,))
                gives_up = asyncio.ensure_future(a.apply_push([], [(kept, 0)]))
                await wait_for(lambda: waiting_on_locks(locker, 1), timeout=10, what="a waiting")
                applies = asyncio.ensure_future(
                    b.apply_push([delivered(found.ref)], [(kept, found.ref.id)])
                )
                await wait_for(lambda: waiting_on_locks(locker, 2), timeout=10, what="b waiting")
            first, second = await asyncio.gather(gives_up, applies)
        assert first.applied == {kept}
        assert (second.rows, second.applied, second.stale) == ([], set(), {kept})
        [after] = await b.find_refs("a", ["x"])
        assert after.next_poll_at is not None and final_count(await a.series()) == 0.0

    async def test_a_replica_leaves_events_of_accounts_it_does_not_know(
        self, open_store: Open
    ) -> None:
        """During a rolling update one replica may not know an account yet: the events
        another replica kept for it stay pending for a replica that does."""
        keeper, behind = await open_store(), await open_store()
        [kept] = await keeper.add_push_events([event("k1", received_at=time.time())])
        applier = PushApplier(store=behind, book=OutcomeBook(Catalogue()))
        await applier._resume()  # what its start does, with no account "a" configured
        assert [row.id for row in await keeper.pending_push_events()] == [kept]

    async def test_a_dead_replicas_events_are_taken_up_every_lease(
        self, open_store: Open, clock: FakeClock
    ) -> None:
        """Every lease, a replica takes up the events a dead one kept and never applied; one of
        an account it does not know it leaves to the others until a day has passed."""
        keeper, sweeper = await open_store(lease=5.0), await open_store(lease=5.0)
        await keeper.add_push_events([event("k0", clock.now - 86_400 - 60)])
        applier = PushApplier(store=sweeper, book=OutcomeBook(Catalogue()), clock=clock)
        running = asyncio.ensure_future(applier.run())
        try:

            async def started() -> bool:
                return [row.id for row in await keeper.pending_push_events()] == []

            await wait_for(started, timeout=10, what="the start's own look at the inbox")
            [recent, _] = await keeper.add_push_events(
                [event("k1", clock.now - 60), event("k2", clock.now - 86_400 - 60)]
            )
            clock.advance(5.0)

            async def swept() -> bool:
                return [row.id for row in await keeper.pending_push_events()] == [recent]

            await wait_for(swept, timeout=10, what="the sweep a lease later")
            assert not running.done()  # it goes on: the next lease sweeps again
            await keeper.add_push_events([event("k3", clock.now - 86_400 - 60)])
            clock.advance(5.0)
            await wait_for(swept, timeout=10, what="the next sweep")
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running

    async def test_left_over_events_and_pruning(self, open_store: Open) -> None:
        store = await open_store()
        old, recent = await store.add_push_events([event("k1", 10.0), event("k2", 50.0)])
        assert old is not None and recent is not None
        assert [r.id for r in await store.pending_push_events()] == [old, recent]
        assert [r.id for r in await store.pending_push_events(received_before=20.0)] == [old]
        assert [r.id for r in await store.pending_push_events(after=old)] == [recent]
        await store.apply_push([], [(old, 0), (recent, 0)])
        # Applied events stay as dedupe keys until pruned: a redelivery is still a duplicate.
        assert await store.add_push_events([event("k1")]) == [None]
        assert await store.prune_push_events("a", received_before=20.0) == 1
        assert await store.add_push_events([event("k1")]) != [None]


class TestLeadership:
    """One replica leads; another takes over when it resigns or stops renewing."""

    async def test_one_leader_and_a_takeover(self, open_store: Open) -> None:
        first, second = await open_store(lease=1.0), await open_store(lease=1.0)
        leader, other = Leadership(first, 1.0), Leadership(second, 1.0)
        await leader.renew()
        await other.renew()
        assert leader.leading and not other.leading
        await leader.resign()
        await other.renew()
        assert other.leading and not leader.leading
        # The leader stops renewing (it died): the others take over once its time is up.
        await leader.renew()
        assert not leader.leading

        async def taken_over() -> bool:
            await leader.renew()
            return leader.leading

        await wait_for(taken_over, timeout=10, what="the dead leader's time to run out")
        assert not other.leading  # its own time ran out first, without a renewal


class TestFailures:
    """An unreachable database is a clear error, and never shows the password."""

    async def test_unreachable_at_start(self, postgres: Any) -> None:
        url = postgres.url("nowhere").replace(f":{postgres.port}/", ":1/")
        store = store_for(StoreConfig(url=url))
        with pytest.raises(StoreError) as raised:
            await store.open()
        message = str(raised.value)
        assert "cannot connect to the PostgreSQL store postgresql://sms_exporter@127.0.0.1:1/" in (
            message
        )
        assert "refused" in message
        assert PASSWORD not in message and "SECRET" not in message

    async def test_refused_password(self, postgres: Any, postgres_url: str) -> None:
        url = postgres_url.replace("Zq7-SECRET", "wrong-SECRET")
        store = store_for(StoreConfig(url=url))
        with pytest.raises(StoreError, match="password authentication failed") as raised:
            await store.open()
        assert "SECRET" not in str(raised.value)

    async def test_a_newer_schema_is_refused(self, open_store: Open, postgres_url: str) -> None:
        store = await open_store()
        await store._run(  # a newer exporter's migration
            "UPDATE schema_version SET version = 99", {}, write=True, fetch=False
        )
        newer = store_for(StoreConfig(url=postgres_url))
        with pytest.raises(StoreError, match="schema version 99"):
            await newer.open()

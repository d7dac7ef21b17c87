"""The batched writer: results committed once, in batches, kept across store failures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from functools import partial
from pathlib import Path

import pytest

from sms_delivery_exporter.outcomes import Catalogue, OutcomeBook
from sms_delivery_exporter.outcomes.catalogue import FINAL
from sms_delivery_exporter.polling import Writer
from sms_delivery_exporter.store import NewRef, RefUpdate, SeriesRow, SqliteStore, StoreError
from tests.helpers import wait_for

LABELS = ("p", "a", "sms", "delivered")


class FailingStore(SqliteStore):
    """A real SQLite store whose next ``failures`` commits fail, as on a full disk."""

    failures = 0
    applied = 0

    async def apply(
        self, updates: Sequence[RefUpdate], rows: Sequence[SeriesRow] = ()
    ) -> list[SeriesRow]:
        if self.failures:
            self.failures -= 1
            raise StoreError("database or disk is full")
        committed = await super().apply(updates, rows)
        self.applied += 1
        return committed


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[FailingStore]:
    opened = FailingStore(tmp_path / "store.db")
    await opened.open()
    await opened.insert_refs([NewRef("a", f"r{n}", "", 0, 0, 0) for n in range(3)])
    yield opened
    await opened.close()


async def running(writer: Writer) -> asyncio.Task[None]:
    return asyncio.create_task(writer.run())


def finished(ref_id: int) -> RefUpdate:
    return RefUpdate(ref_id, '{"":["delivered","sms",0,null]}', 1, 5.0, None, 5.0)


async def test_results_survive_failed_commits(store: FailingStore) -> None:
    book = OutcomeBook(Catalogue())
    writer = Writer(store, book, max_delay=0.001, retry_delay=0.001)
    task = await running(writer)
    store.failures = 3
    committed: list[int] = []
    writer.offer([(finished(1), [(FINAL, LABELS, 1.0)])], lambda: committed.append(1))
    await wait_for(lambda: committed, what="the commit after three failures")
    # Counted once, after the commit that finally worked, never before it.
    assert store.failures == 0 and store.applied == 1
    assert book.value(FINAL, provider="p", account="a", channel="sms", status="delivered") == 1
    assert await store.series() == [(FINAL, Catalogue().key(FINAL, LABELS), 1.0)]
    assert await store.count_refs(open_only=True) == 2
    assert committed == [1]
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_one_commit_carries_many_results(store: FailingStore) -> None:
    book = OutcomeBook(Catalogue())
    writer = Writer(store, book, max_delay=0.05)
    done: list[int] = []
    for ref_id in (1, 2, 3):
        writer.offer([(finished(ref_id), [(FINAL, LABELS, 1.0)])], partial(done.append, ref_id))
    task = await running(writer)
    await wait_for(lambda: len(done) == 3, what="three results")
    assert store.applied == 1
    assert book.value(FINAL, provider="p", account="a", channel="sms", status="delivered") == 3
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


async def test_stopping_commits_what_is_queued(store: FailingStore) -> None:
    book = OutcomeBook(Catalogue())
    writer = Writer(store, book, max_delay=60)  # would wait a minute before committing
    task = await running(writer)
    done: list[int] = []
    writer.offer([(finished(2), [(FINAL, LABELS, 1.0)])], lambda: done.append(2))
    await asyncio.sleep(0)  # the writer is now waiting out its delay
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert done == [2]
    assert await store.count_refs(open_only=True) == 2


class SlowStore(FailingStore):
    """Commits wait for the test to let them through, as on a saturated disk."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.gate = asyncio.Event()
        self.committing = False

    async def apply(
        self, updates: Sequence[RefUpdate], rows: Sequence[SeriesRow] = ()
    ) -> list[SeriesRow]:
        self.committing = True
        await self.gate.wait()
        return await super().apply(updates, rows)


async def test_pollers_cannot_outrun_the_disk(tmp_path: Path) -> None:
    """Eight batches' worth may wait (here 16 results); beyond that offer() refuses and submit()
    waits for room."""
    store = SlowStore(tmp_path / "slow.db")
    await store.open()
    await store.insert_refs([NewRef("a", f"r{n}", "", 0, 0, 0) for n in range(30)])
    writer = Writer(store, OutcomeBook(Catalogue()), max_batch=2, max_delay=0.001)
    task = await running(writer)
    done: list[int] = []
    assert writer.offer([(finished(1), [])], partial(done.append, 1))
    await wait_for(lambda: store.committing, what="a commit under way")
    accepted = [writer.offer([(finished(n), [])], partial(done.append, n)) for n in range(2, 20)]
    # Sixteen results wait behind the stuck commit; the next two are refused.
    assert accepted.count(True) == 16 and accepted[-2:] == [False, False]
    waiting = asyncio.create_task(writer.submit([(finished(20), [])], partial(done.append, 20)))
    for _ in range(5):  # submit() needs one turn of the loop to finish, were it not waiting
        await asyncio.sleep(0)
    assert not waiting.done()
    store.gate.set()
    await wait_for(lambda: 20 in done, what="the waiting result committed")
    assert waiting.done()
    assert await store.count_refs(open_only=True) == 30 - len(done)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await store.close()

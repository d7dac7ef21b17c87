"""The SQLite store on a real file: duplicates, due order, atomic apply, pruning, reopening."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from sms_delivery_exporter.store import NewRef, RefUpdate, SqliteStore, StoreError
from sms_delivery_exporter.store.rows import summed


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    opened = SqliteStore(tmp_path / "store.db")
    await opened.open()
    yield opened
    await opened.close()


def new(key: str, due: float, account: str = "a", rows: float = 0.0) -> NewRef:
    return NewRef(account, key, "", due - 1, due - 1, due, [("m", "{}", rows)] if rows else [])


class TestRefs:
    """Refs go in once, come out most overdue first, and leave when finished."""

    async def test_duplicates_and_order(self, store: SqliteStore) -> None:
        result = await store.insert_refs([new("x", 30, rows=1), new("y", 10), new("x", 5, rows=1)])
        assert result.new == [True, True, False]
        # Only the new ref's rows are committed (and reported), not the duplicate's.
        assert result.rows == [("m", "{}", 1.0)]
        assert await store.series() == [("m", "{}", 1.0)]
        due = await store.due_refs("a", 100, 10)
        assert [row.ref_key for _, row in due] == ["y", "x"]
        # Resuming after the first ref skips it.
        after = await store.due_refs("a", 100, 10, (due[0][0], due[0][1].id))
        assert [row.ref_key for _, row in after] == ["x"]
        assert await store.due_refs("a", 20, 10) != []
        assert await store.due_refs("b", 100, 10) == []

    async def test_apply_is_atomic_with_series(self, store: SqliteStore) -> None:
        await store.insert_refs([new("x", 1, rows=1)])
        [(_, row)] = await store.due_refs("a", 100, 10)
        update = RefUpdate(row.id, '{"":[]}', 1, 2.0, None, 2.0)
        with pytest.raises(StoreError, match="NOT NULL"):
            await store.apply([update], [("m", None, 1.0)])  # type: ignore[list-item]
        assert await store.due_refs("a", 100, 10) != []  # rolled back
        await store.apply([update], [("m", "{}", 2.0)])
        assert await store.due_refs("a", 100, 10) == []
        assert await store.series() == [("m", "{}", 3.0)]

    async def test_prune_only_old_finished(self, store: SqliteStore) -> None:
        await store.insert_refs([new("old", 1), new("new", 1), new("open", 1)])
        rows = [row for _, row in await store.due_refs("a", 100, 10)]
        finished = {"old": 100.0, "new": 900.0}
        updates = [
            RefUpdate(r.id, "", 1, 1.0, None, finished[r.ref_key])
            for r in rows
            if r.ref_key in finished
        ]
        await store.apply(updates, [])
        assert await store.prune(500.0) == 1
        assert await store.count_refs() == 2


async def test_reopen_keeps_everything(tmp_path: Path) -> None:
    first = SqliteStore(tmp_path / "s.db")
    await first.open()
    await first.insert_refs([new("x", 1, rows=1)], [("team", "payments")])
    await first.close()
    second = SqliteStore(tmp_path / "s.db")
    await second.open()
    assert await second.series() == [("m", "{}", 1.0)]
    assert await second.count_refs() == 1
    assert await second.label_values() == [("team", "payments")]
    await second.close()


async def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    store = SqliteStore(path)
    with pytest.raises(StoreError, match="cannot open the store"):
        await store.open()
    await store.close()


def test_series_changes_summed_per_series() -> None:
    """A batch's changes reach the store as one upsert per series, zero sums included (the
    series exists, at 0), first-seen order kept."""
    final = ("sms_messages_final_total", '{"status":"delivered"}')
    pending = ("sms_messages_in_flight", '{"status":"pending"}')
    rows = [(*final, 1.0), (*pending, -1.0), (*final, 1.0), (*pending, 1.0), (*final, 1.0)]
    assert summed(rows) == [(*final, 3.0), (*pending, 0.0)]
    assert summed([]) == []


async def test_rows_returned_are_the_rows_stored(store: SqliteStore) -> None:
    """The book adds the rows an insert returns, the store the rows it wrote: the same
    sums, or a float total read back after a restart differs from the one served before
    (a counter going down, which Prometheus takes for a reset)."""
    latency_sum = ("sms_delivery_latency_seconds_sum", "{}")
    served = 0.0
    for amounts in ((0.1,), (0.2, 0.3)):
        refs = [
            NewRef("a", f"k{amount}", "", 1.0, 1.0, 10.0, rows=[(*latency_sum, amount)])
            for amount in amounts
        ]
        for _, _, amount in (await store.insert_refs(refs)).rows:
            served += amount
    assert await store.series() == [(*latency_sum, served)]

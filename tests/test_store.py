"""The SQLite store on a real file: duplicates, due order, atomic apply, pruning, reopening."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sms_delivery_exporter.store import NewRef, RefUpdate, Store, StoreError


@pytest.fixture
def store(tmp_path: Path) -> Store:
    opened = Store(tmp_path / "store.db")
    opened.run_sync(opened.open)
    return opened


def call(store: Store, work: Callable[[], Any]) -> Any:
    """Run work on the store's thread, as the exporter does."""
    return store.run_sync(work)


def new(key: str, due: float, account: str = "a") -> NewRef:
    return NewRef(account, key, "", due - 1, due - 1, due)


class TestRefs:
    """Refs go in once, come out most overdue first, and leave when finished."""

    def test_duplicates_and_order(self, store: Store) -> None:
        inserted = call(
            store,
            lambda: store.insert_refs([new("x", 30), new("y", 10), new("x", 5)], lambda _: []),
        )
        assert inserted == [True, True, False]
        due = call(store, lambda: store.due_refs("a", 100, 10))
        assert [row.ref_key for _, row in due] == ["y", "x"]
        # Resuming after the first ref skips it.
        after = call(store, lambda: store.due_refs("a", 100, 10, (due[0][0], due[0][1].id)))
        assert [row.ref_key for _, row in after] == ["x"]
        assert call(store, lambda: store.due_refs("a", 20, 10)) != []
        assert call(store, lambda: store.due_refs("b", 100, 10)) == []

    def test_apply_is_atomic_with_series(self, store: Store) -> None:
        call(
            store,
            lambda: store.insert_refs([new("x", 1)], lambda refs: [("m", "{}", float(len(refs)))]),
        )
        [(_, row)] = call(store, lambda: store.due_refs("a", 100, 10))
        update = RefUpdate(row.id, '{"":[]}', 1, 2.0, None, 2.0)
        with pytest.raises(Exception, match="NOT NULL"):
            call(store, lambda: store.apply([update], [("m", None, 1.0)]))  # type: ignore[list-item]
        assert call(store, lambda: store.due_refs("a", 100, 10)) != []  # rolled back
        call(store, lambda: store.apply([update], [("m", "{}", 2.0)]))
        assert call(store, lambda: store.due_refs("a", 100, 10)) == []
        assert call(store, store.series) == [("m", "{}", 3.0)]

    def test_prune_only_old_finished(self, store: Store) -> None:
        call(
            store,
            lambda: store.insert_refs([new("old", 1), new("new", 1), new("open", 1)], lambda _: []),
        )
        rows = [row for _, row in call(store, lambda: store.due_refs("a", 100, 10))]
        finished = {"old": 100.0, "new": 900.0}
        updates = [
            RefUpdate(r.id, "", 1, 1.0, None, finished[r.ref_key])
            for r in rows
            if r.ref_key in finished
        ]
        call(store, lambda: store.apply(updates, []))
        assert call(store, lambda: store.prune(500.0)) == 1
        assert call(store, store.count_refs) == 2


def test_reopen_keeps_everything(tmp_path: Path) -> None:
    first = Store(tmp_path / "s.db")
    first.run_sync(first.open)
    first.run_sync(lambda: first.insert_refs([new("x", 1)], lambda _: [("m", "{}", 1.0)]))
    first.close()
    second = Store(tmp_path / "s.db")
    second.run_sync(second.open)
    assert second.run_sync(second.series) == [("m", "{}", 1.0)]
    assert second.run_sync(second.count_refs) == 1
    second.close()


def test_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "junk.db"
    path.write_bytes(b"this is not sqlite" * 100)
    store = Store(path)
    with pytest.raises(StoreError, match="cannot open the store"):
        store.run_sync(store.open)

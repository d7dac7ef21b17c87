"""The SQLite store's shared writing steps: transactions, ref updates, series changes.

Run on the store's thread, inside the callers' transactions, so that a poll's
results, a webhook's effects and the counters they change commit together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence

from sms_delivery_exporter.store.rows import RefUpdate, SeriesRow


class transaction:
    """BEGIN IMMEDIATE … COMMIT, rolled back on error; optionally with its own fsync policy."""

    def __init__(self, db: sqlite3.Connection, synchronous: str | None = None) -> None:
        self.db = db
        self.synchronous = synchronous
        self.previous: int | None = None

    def __enter__(self) -> None:
        if self.synchronous is not None:
            self.previous = self.db.execute("PRAGMA synchronous").fetchone()[0]
            self.db.execute(f"PRAGMA synchronous={self.synchronous}")
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        try:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        finally:
            if self.previous is not None:
                self.db.execute(f"PRAGMA synchronous={self.previous}")


def add_series(db: sqlite3.Connection, deltas: Iterable[SeriesRow]) -> None:
    db.executemany(
        "INSERT INTO series (name, labels, value) VALUES (?, ?, ?)"
        " ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value",
        deltas,
    )


UpdateTexts = tuple[str | None, str | None, str | None]
"""Ref updates as three JSON arrays: finished, changed, only moved (None where none)."""


def update_texts(updates: Sequence[RefUpdate]) -> UpdateTexts:
    """Ref updates as JSON, made off the store's thread where a caller can (less GIL traffic).

    Most polls only move a ref's schedule: those rows are written without
    their state or finished_at, so SQLite leaves the other indexes alone.
    """
    finished, changed, moved = [], [], []
    for u in updates:
        if u.next_poll_at is None:
            finished.append((u.state, u.polls, u.last_poll_at, u.finished_at, u.id))
        elif u.state_changed:
            changed.append(
                (u.state, u.polls, u.last_poll_at, u.next_poll_at, u.priority, u.in_flight, u.id)
            )
        else:
            moved.append((u.polls, u.last_poll_at, u.next_poll_at, u.priority, u.id))
    return (
        json.dumps(finished) if finished else None,
        json.dumps(changed) if changed else None,
        json.dumps(moved) if moved else None,
    )


def write_updates(db: sqlite3.Connection, updates: Sequence[RefUpdate]) -> None:
    """Refs after a poll."""
    write_update_texts(db, update_texts(updates))


def write_update_texts(db: sqlite3.Connection, texts: UpdateTexts) -> None:
    """Refs after a poll or a webhook, from :func:`update_texts`."""
    finished, changed, moved = texts
    # Each kind of update is one statement over a JSON array of rows: one
    # step for SQLite, instead of a step (and a GIL hand-off) per row.
    if finished:
        db.execute(
            "UPDATE refs SET state = u.value ->> 0, polls = u.value ->> 1,"
            " last_poll_at = u.value ->> 2, next_poll_at = NULL,"
            " finished_at = u.value ->> 3, in_flight = 0 FROM json_each(?) AS u"
            " WHERE refs.id = u.value ->> 4",
            (finished,),
        )
    if changed:
        db.execute(
            "UPDATE refs SET state = u.value ->> 0, polls = u.value ->> 1,"
            " last_poll_at = u.value ->> 2, next_poll_at = u.value ->> 3,"
            " priority = u.value ->> 4, in_flight = u.value ->> 5"
            " FROM json_each(?) AS u WHERE refs.id = u.value ->> 6",
            (changed,),
        )
    if moved:
        db.execute(
            "UPDATE refs SET polls = u.value ->> 0, last_poll_at = u.value ->> 1,"
            " next_poll_at = u.value ->> 2, priority = u.value ->> 3"
            " FROM json_each(?) AS u WHERE refs.id = u.value ->> 4",
            (moved,),
        )

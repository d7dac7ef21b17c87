"""The SQLite store's webhook inbox: events kept from the acknowledgement until applied.

Run on the store's thread. An event is inserted in the transaction that the
acknowledgement waits for (the configured ``synchronous``, full by default),
and marked applied in the transaction that commits what it changed, so a
crash between the two applies it after the restart, once.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from sms_delivery_exporter.store.rows import (
    DueRef,
    FoundRef,
    NewPushEvent,
    PushEventRow,
    RefUpdate,
    SeriesRow,
)
from sms_delivery_exporter.store.sqlite_writes import add_series, transaction, write_updates


def add_push_events(db: sqlite3.Connection, events: Sequence[NewPushEvent]) -> list[int | None]:
    """Keep new events; each one's id, or None for a duplicate of one kept before."""
    ids: list[int | None] = []
    with transaction(db):
        for event in events:
            cursor = db.execute(
                "INSERT OR IGNORE INTO push_events (account, dedupe_key, received_at, event)"
                " VALUES (?, ?, ?, ?)",
                (event.account, event.dedupe_key, event.received_at, event.event),
            )
            ids.append(cursor.lastrowid if cursor.rowcount == 1 else None)
    return ids


def pending_push_events(db: sqlite3.Connection, after: int, limit: int) -> list[PushEventRow]:
    """Events not applied yet, in the order they were kept, from past the id ``after``."""
    return [
        PushEventRow(*row)
        for row in db.execute(
            "SELECT id, account, received_at, event FROM push_events"
            " WHERE applied = 0 AND id > ? ORDER BY id LIMIT ?",
            (after, limit),
        )
    ]


def find_refs(db: sqlite3.Connection, account: str, ref_keys: Sequence[str]) -> list[FoundRef]:
    """The account's refs with these keys, open or finished (one indexed lookup each)."""
    (text,) = db.execute(
        "SELECT json_group_array(json_array(r.id, r.ref_key, r.labels, r.submitted_at, r.polls,"
        " r.last_poll_at, r.state, r.next_poll_at)) FROM json_each(?) AS k"
        " JOIN refs AS r ON r.account = ? AND r.ref_key = k.value",
        (json.dumps(list(ref_keys)), account),
    ).fetchone()
    return [FoundRef(DueRef(*row[:7]), row[7]) for row in json.loads(text)]


def apply_push(
    db: sqlite3.Connection,
    updates: Sequence[RefUpdate],
    rows: Sequence[SeriesRow],
    applied: Sequence[int],
) -> None:
    """Commit what events changed, with their series changes, and mark them applied."""
    # Applied events stay only as dedupe keys: their text is no longer needed.
    with transaction(db, synchronous="NORMAL"):
        write_updates(db, updates)
        add_series(db, rows)
        db.execute(
            "UPDATE push_events SET applied = 1, event = '' WHERE id IN"
            " (SELECT value FROM json_each(?))",
            (json.dumps(list(applied)),),
        )


def prune_push_events(
    db: sqlite3.Connection, account: str, received_before: float, limit: int
) -> int:
    """Forget up to ``limit`` applied events of an account received before a time."""
    with transaction(db):
        cursor = db.execute(
            "DELETE FROM push_events WHERE id IN (SELECT id FROM push_events"
            " WHERE account = ? AND applied = 1 AND received_at < ? LIMIT ?)",
            (account, received_before, limit),
        )
    return cursor.rowcount

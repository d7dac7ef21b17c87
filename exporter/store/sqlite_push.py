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

import orjson

from sms_delivery_exporter.store.rows import DueRef, FoundRef, NewPushEvent, PushEventRow, SeriesRow
from sms_delivery_exporter.store.sqlite_writes import (
    UpdateTexts,
    add_series,
    transaction,
    write_update_texts,
)


def push_events_text(events: Sequence[NewPushEvent]) -> str:
    """The events as one JSON text, made before the store's thread is asked to insert it
    (with orjson: on the event loop, for every webhook commit; every string in it is ASCII or
    a text orjson made, which it can encode)."""
    rows = [[e.account, e.dedupe_key, e.received_at, e.event] for e in events]
    return orjson.dumps(rows).decode()


def add_push_events(db: sqlite3.Connection, text: str) -> list[tuple[int, str, str]]:
    """Keep new events (``push_events_text``); (id, account, dedupe key) of those inserted.

    One statement over a JSON array: one SQLite step, not one per event, and little
    Python on the store's thread (which needs the GIL for it). RETURNING names the
    rows inserted, so what it leaves out was kept before (or twice in this text).
    """
    with transaction(db):
        return db.execute(
            "INSERT INTO push_events (account, dedupe_key, received_at, event)"
            " SELECT e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value ->> 3"
            " FROM json_each(?) AS e WHERE true"
            " ON CONFLICT (account, dedupe_key) DO NOTHING RETURNING id, account, dedupe_key",
            (text,),
        ).fetchall()


def pending_push_events(
    db: sqlite3.Connection, after: int, limit: int, received_before: float | None
) -> list[PushEventRow]:
    """Events not applied yet, in the order they were kept, from past the id ``after``."""
    return [
        PushEventRow(*row)
        for row in db.execute(
            "SELECT id, account, received_at, event FROM push_events"
            " WHERE applied = 0 AND id > ? AND (? IS NULL OR received_at < ?) ORDER BY id LIMIT ?",
            (after, received_before, received_before, limit),
        )
    ]


def find_refs(db: sqlite3.Connection, account: str, keys: str) -> str:
    """The account's refs with the keys of a JSON array, open or finished (an indexed lookup
    each), as a JSON array for :func:`found_refs`."""
    # IN (subquery), not a join: SQLite would scan the account's refs for a join.
    (text,) = db.execute(
        "SELECT json_group_array(json_array(id, ref_key, labels, submitted_at, polls,"
        " last_poll_at, state, next_poll_at)) FROM refs WHERE account = ?"
        " AND ref_key IN (SELECT value FROM json_each(?))",
        (account, keys),
    ).fetchone()
    return str(text)


def found_refs(text: str) -> list[FoundRef]:
    return [FoundRef(DueRef(*row[:7]), row[7]) for row in json.loads(text)]


def apply_push(
    db: sqlite3.Connection, updates: UpdateTexts, rows: Sequence[SeriesRow], applied: str
) -> None:
    """Commit what events changed, with their series changes, and mark them applied (the
    ids of a JSON array). The JSON is made by the caller, off the store's thread."""
    # Applied events stay only as dedupe keys: their text is no longer needed.
    with transaction(db, synchronous="NORMAL"):
        write_update_texts(db, updates)
        add_series(db, rows)
        db.execute(
            "UPDATE push_events SET applied = 1, event = '' WHERE id IN"
            " (SELECT value FROM json_each(?))",
            (applied,),
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

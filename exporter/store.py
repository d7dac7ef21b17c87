"""The SQLite store: every tracked ref, its state and schedule, and the outcome counters.

The ``refs`` table is also the schedule: ``next_poll_at`` is NULL once a ref
is finished, and a partial index over the open refs serves "which refs are
due" without a scan. Outcome counters are saved as deltas in the same
transaction as the state that produced them, so a crash loses both or neither.

One connection, used from one dedicated thread (:meth:`Store.run`): SQLite
work never blocks the event loop and writes never contend.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

SCHEMA_VERSION = 1
_SCHEMA = """
CREATE TABLE IF NOT EXISTS refs (
    id INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    ref_key TEXT NOT NULL,
    labels TEXT NOT NULL DEFAULT '',
    submitted_at REAL NOT NULL,
    tracked_at REAL NOT NULL,
    next_poll_at REAL,
    polls INTEGER NOT NULL DEFAULT 0,
    last_poll_at REAL,
    finished_at REAL,
    state TEXT NOT NULL DEFAULT '',
    UNIQUE (account, ref_key)
);
CREATE INDEX IF NOT EXISTS refs_due ON refs (account, next_poll_at)
    WHERE next_poll_at IS NOT NULL;
CREATE INDEX IF NOT EXISTS refs_open_age ON refs (account, submitted_at)
    WHERE finished_at IS NULL;
CREATE INDEX IF NOT EXISTS refs_finished ON refs (finished_at)
    WHERE finished_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS series (
    name TEXT NOT NULL,
    labels TEXT NOT NULL,
    value REAL NOT NULL,
    PRIMARY KEY (name, labels)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS label_values (
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (key, value)
) WITHOUT ROWID;
"""


class StoreError(Exception):
    """The store cannot be opened or is not ours."""


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class NewRef:
    account: str
    ref_key: str
    labels: str
    submitted_at: float
    tracked_at: float
    next_poll_at: float


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class DueRef:
    id: int
    ref_key: str
    labels: str
    submitted_at: float
    polls: int
    last_poll_at: float | None
    state: str


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class RefUpdate:
    id: int
    state: str
    polls: int
    last_poll_at: float | None
    next_poll_at: float | None
    finished_at: float | None
    state_changed: bool = True


SeriesRow = tuple[str, str, float]
"""(series name, labels as a JSON object, amount)."""


class Store:
    """The exporter's embedded database. Blocking methods; call them through :meth:`run`."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._synchronous = synchronous.upper()
        self._db: sqlite3.Connection | None = None

    async def run(self, work: Callable[[], T]) -> T:
        """Run blocking store work on the store's own thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, work)

    def run_sync(self, work: Callable[[], T]) -> T:
        """Run store work on the store's thread from synchronous code (tools, tests)."""
        return self._executor.submit(work).result()

    def open(self) -> None:
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA temp_store=MEMORY")
            db.execute("PRAGMA cache_size=-65536")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(
                    f"{self.path} has schema version {version};"
                    f" this exporter knows {SCHEMA_VERSION}"
                )
            db.executescript(_SCHEMA)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        self._db = db

    def close_db(self) -> None:
        """Close the connection (on the store thread, like all other work)."""
        if self._db is not None:
            self._db.execute("PRAGMA optimize")
            self._db.close()
            self._db = None

    def shutdown(self) -> None:
        """Stop the store thread once nothing else will run on it."""
        self._executor.shutdown(wait=True)

    def close(self) -> None:
        """Close from synchronous code (tools, tests)."""
        self.run_sync(self.close_db)
        self.shutdown()

    @property
    def is_open(self) -> bool:
        return self._db is not None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    def insert_refs(
        self,
        refs: Sequence[NewRef],
        deltas_for: Callable[[list[NewRef]], Sequence[SeriesRow]],
        label_values: Iterable[tuple[str, str]] = (),
    ) -> list[bool]:
        """Insert refs in one transaction; per ref, whether it was new (else a duplicate).

        ``deltas_for`` receives the refs that were new and returns the series
        changes to commit with them.
        """
        db = self.db
        inserted: list[bool] = []
        with _transaction(db):
            db.executemany("INSERT OR IGNORE INTO label_values VALUES (?, ?)", label_values)
            for ref in refs:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO refs (account, ref_key, labels, submitted_at,"
                    " tracked_at, next_poll_at) VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        ref.account,
                        ref.ref_key,
                        ref.labels,
                        ref.submitted_at,
                        ref.tracked_at,
                        ref.next_poll_at,
                    ),
                )
                inserted.append(cursor.rowcount == 1)
            new = [ref for ref, was_new in zip(refs, inserted, strict=True) if was_new]
            _add_series(db, deltas_for(new))
        return inserted

    def due_refs(
        self, account: str, now: float, limit: int, after: tuple[float, int] | None = None
    ) -> list[tuple[float, DueRef]]:
        """Open refs of an account whose poll time has come, most overdue first.

        ``after`` resumes past the (next_poll_at, id) of the last ref handed
        out, so that refs already being polled are not read again. Each ref
        comes with its next_poll_at, the cursor of the following call.
        """
        start = after if after is not None else (float("-inf"), 0)
        # One JSON text for all rows: SQLite works in one step, and the GIL is
        # not handed back and forth with the event loop for every row.
        (text,) = self.db.execute(
            "SELECT json_group_array(json_array(next_poll_at, id, ref_key, labels, submitted_at,"
            " polls, last_poll_at, state)) FROM (SELECT * FROM refs WHERE account = ?"
            " AND next_poll_at IS NOT NULL AND next_poll_at <= ? AND (next_poll_at, id) > (?, ?)"
            " ORDER BY next_poll_at, id LIMIT ?)",
            (account, now, start[0], start[1], limit),
        ).fetchone()
        return [(row[0], DueRef(*row[1:])) for row in json.loads(text)]

    def apply(self, updates: Sequence[RefUpdate], deltas: Sequence[SeriesRow]) -> None:
        """Commit poll results and the series changes they caused, atomically.

        Most polls only move a ref's schedule: those rows are written without
        their state or finished_at, so SQLite leaves the other indexes alone.
        Poll commits skip the fsync (a crash of the machine can only make
        those polls happen again); intake commits keep the configured setting.
        """
        db = self.db
        finished, changed, moved = [], [], []
        for u in updates:
            if u.next_poll_at is None:
                finished.append((u.state, u.polls, u.last_poll_at, u.finished_at, u.id))
            elif u.state_changed:
                changed.append((u.state, u.polls, u.last_poll_at, u.next_poll_at, u.id))
            else:
                moved.append((u.polls, u.last_poll_at, u.next_poll_at, u.id))
        with _transaction(db, synchronous="NORMAL"):
            # Each kind of update is one statement over a JSON array of rows: one
            # step for SQLite, instead of a step (and a GIL hand-off) per row.
            if finished:
                db.execute(
                    "UPDATE refs SET state = u.value ->> 0, polls = u.value ->> 1,"
                    " last_poll_at = u.value ->> 2, next_poll_at = NULL,"
                    " finished_at = u.value ->> 3 FROM json_each(?) AS u"
                    " WHERE refs.id = u.value ->> 4",
                    (json.dumps(finished),),
                )
            if changed:
                db.execute(
                    "UPDATE refs SET state = u.value ->> 0, polls = u.value ->> 1,"
                    " last_poll_at = u.value ->> 2, next_poll_at = u.value ->> 3"
                    " FROM json_each(?) AS u WHERE refs.id = u.value ->> 4",
                    (json.dumps(changed),),
                )
            if moved:
                db.execute(
                    "UPDATE refs SET polls = u.value ->> 0, last_poll_at = u.value ->> 1,"
                    " next_poll_at = u.value ->> 2 FROM json_each(?) AS u"
                    " WHERE refs.id = u.value ->> 3",
                    (json.dumps(moved),),
                )
            _add_series(db, deltas)

    def next_poll_at(self, account: str) -> float | None:
        """When the account's earliest open ref is due (index lookup)."""
        row = self.db.execute(
            "SELECT MIN(next_poll_at) FROM refs WHERE account = ? AND next_poll_at IS NOT NULL",
            (account,),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def oldest_open_submitted_at(self, account: str) -> float | None:
        row = self.db.execute(
            "SELECT MIN(submitted_at) FROM refs WHERE account = ? AND finished_at IS NULL",
            (account,),
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def series(self) -> list[SeriesRow]:
        return [
            (name, labels, value) for name, labels, value in self.db.execute("SELECT * FROM series")
        ]

    def label_values(self) -> list[tuple[str, str]]:
        return [
            (key, value) for key, value in self.db.execute("SELECT key, value FROM label_values")
        ]

    def prune(self, finished_before: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` refs finished before a time; how many went."""
        db = self.db
        with _transaction(db):
            cursor = db.execute(
                "DELETE FROM refs WHERE id IN (SELECT id FROM refs WHERE finished_at IS NOT NULL"
                " AND finished_at < ? LIMIT ?)",
                (finished_before, limit),
            )
        return cursor.rowcount

    def count_refs(self, account: str | None = None, *, open_only: bool = False) -> int:
        """For tests and summaries, not the hot path."""
        query = "SELECT COUNT(*) FROM refs WHERE 1=1"
        args: list[object] = []
        if account is not None:
            query += " AND account = ?"
            args.append(account)
        if open_only:
            query += " AND next_poll_at IS NOT NULL"
        return int(self.db.execute(query, args).fetchone()[0])


class _transaction:
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


def _add_series(db: sqlite3.Connection, deltas: Iterable[SeriesRow]) -> None:
    db.executemany(
        "INSERT INTO series (name, labels, value) VALUES (?, ?, ?)"
        " ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value",
        deltas,
    )

"""The SQLite store: the embedded default, one file in WAL mode.

The ``refs`` table is also the schedule: ``next_poll_at`` is NULL once a ref
is finished, and a partial index over the open refs serves "which refs are
due" without a scan. Outcome counters are saved as deltas in the same
transaction as the state that produced them, so a crash loses both or neither.

One connection, used from one dedicated thread: SQLite work never blocks the
event loop and writes never contend. The public methods are the async
:class:`~sms_delivery_exporter.store.interface.Store` interface; the
``_``-prefixed ones run on that thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from sms_delivery_exporter.store import sqlite_push
from sms_delivery_exporter.store.health import StoreHealth
from sms_delivery_exporter.store.interface import StoreError
from sms_delivery_exporter.store.lock import StoreLock
from sms_delivery_exporter.store.rows import (
    DueRef,
    FoundRef,
    InsertResult,
    NewPushEvent,
    NewRef,
    PushCommit,
    PushEventRow,
    RefUpdate,
    SeriesRow,
    kept_event_ids,
    summed,
)
from sms_delivery_exporter.store.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from sms_delivery_exporter.store.sqlite_writes import (
    add_series,
    transaction,
    update_texts,
    write_updates,
)

T = TypeVar("T")

MIN_FREE_BYTES = 1024 * 1024
"""Less free space than this beside the store: commits are about to fail (unwritable)."""
_CORRUPT = ("SQLITE_CORRUPT", "SQLITE_NOTADB")


class SqliteStore:
    """The exporter's embedded database."""

    def __init__(self, path: Path, *, synchronous: str = "full") -> None:
        self.path = path
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="store")
        self._synchronous = synchronous.upper()
        self._db: sqlite3.Connection | None = None
        self._lock = StoreLock(path)
        self._identity: tuple[int, int] | None = None
        self.health = StoreHealth()

    async def _run(self, work: Callable[[], T], *, write: bool = False) -> T:
        """Run blocking work on the store's thread; SQLite errors become :class:`StoreError`.

        Failures are noted in :attr:`health` (a failed write makes the store
        unwritable until a write succeeds; a corrupt page makes it corrupt for good).
        """
        try:
            result = await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(_CORRUPT):
                self.health.report("corrupt", f"SQLite found damage: {exc}")
            elif write:
                self.health.report("unwritable", f"a commit failed: {exc}")
            raise StoreError(f"the store {self.path} failed: {exc}") from exc
        if write:
            self.health.clear("unwritable")
        return result

    @property
    def is_open(self) -> bool:
        return self._db is not None

    @property
    def lease(self) -> None:
        """Nothing is leased: the lock makes the store this process's alone."""
        return None

    async def open(self) -> None:
        """Lock the file, open it, and refuse it if it is empty or fails the integrity check."""
        self._lock.acquire()
        try:
            await self._run(self._open)
        except BaseException:
            self._lock.release()
            raise

    async def close(self) -> None:
        """Close the connection, stop the store's thread, release the lock.

        Never fails: an unwritable or vanished store still closes.
        """
        try:
            if self._db is not None:
                with contextlib.suppress(StoreError):
                    await self._run(self._close)
        finally:
            self._executor.shutdown(wait=True)
            self._lock.release()

    async def check(self, *, integrity: bool = False) -> None:
        """Look at the file, probe a write, and (``integrity``) run SQLite's quick check.

        Problems found go to :attr:`health`; this never raises for them.
        """
        if self._db is None:
            return
        with contextlib.suppress(StoreError):
            if await self._run(self._check_file):
                await self._run(self._probe, write=True)
        if integrity and "missing" not in self.health.problems:
            problem = await asyncio.to_thread(self._integrity)
            if problem is not None:
                self.health.report("corrupt", f"integrity check: {problem}")

    async def insert_refs(
        self, refs: Sequence[NewRef], label_values: Iterable[tuple[str, str]] = ()
    ) -> InsertResult:
        return await self._run(partial(self._insert_refs, refs, list(label_values)), write=True)

    async def due_refs(
        self,
        account: str,
        now: float,
        limit: int,
        after: tuple[float, int] | None = None,
        priority: int = 0,
    ) -> list[tuple[float, DueRef]]:
        return await self._run(partial(self._due_refs, account, now, limit, after, priority))

    async def release(self, refs: Sequence[DueRef]) -> None:
        """Nothing to do: refs are reserved in the poller's memory only."""

    async def apply(
        self, updates: Sequence[RefUpdate], rows: Sequence[SeriesRow] = ()
    ) -> list[SeriesRow]:
        """One process polls: every update applies, with ``rows`` (and any update's own)."""
        own = [row for u in updates for row in u.rows]
        every = [*rows, *own] if own else list(rows)
        await self._run(partial(self._apply, updates, every), write=True)
        return every

    async def cursor(self, account: str, feed: str) -> str | None:
        return await self._run(partial(self._cursor, account, feed))

    async def save_cursor(self, account: str, feed: str, cursor: str) -> None:
        await self._run(partial(self._save_cursor, account, feed, cursor), write=True)

    async def lead(self, ttl: float) -> bool:
        return True

    async def resign(self) -> None:
        """Nothing to give up."""

    async def next_poll_at(self, account: str) -> float | None:
        return await self._run(partial(self._min, _NEXT_POLL, account))

    async def oldest_open_submitted_at(self, account: str) -> float | None:
        return await self._run(partial(self._min, _OLDEST_OPEN, account))

    async def series(self) -> list[SeriesRow]:
        return await self._run(self._series)

    async def label_values(self) -> list[tuple[str, str]]:
        return await self._run(self._label_values)

    async def prune(self, finished_before: float, limit: int = 10_000) -> int:
        return await self._run(partial(self._prune, finished_before, limit), write=True)

    async def count_refs(self, account: str | None = None, *, open_only: bool = False) -> int:
        return await self._run(partial(self._count_refs, account, open_only))

    async def add_push_events(self, events: Sequence[NewPushEvent]) -> list[int | None]:
        text = sqlite_push.push_events_text(events)
        inserted = await self._run(
            partial(sqlite_push.add_push_events, self._conn, text), write=True
        )
        return kept_event_ids(events, inserted)

    async def pending_push_events(
        self, after: int = 0, limit: int = 10_000, received_before: float | None = None
    ) -> list[PushEventRow]:
        query = partial(sqlite_push.pending_push_events, self._conn, after, limit, received_before)
        return await self._run(query)

    # The JSON of these is made and read here, on the event loop's thread: the store's
    # thread then runs SQL alone, and takes the GIL from the web handlers less often.

    async def find_refs(self, account: str, ref_keys: Sequence[str]) -> list[FoundRef]:
        keys = json.dumps(list(ref_keys))
        text = await self._run(partial(sqlite_push.find_refs, self._conn, account, keys))
        return sqlite_push.found_refs(text)

    async def apply_push(
        self,
        updates: Sequence[RefUpdate],
        events: Sequence[tuple[int, int]],
        rows: Sequence[SeriesRow] = (),
    ) -> PushCommit:
        """One process applies: every update applies, and every event with it."""
        texts = update_texts(updates)
        every = summed([*rows, *(row for u in updates for row in u.rows)])
        ids = [event_id for event_id, _ in events]
        query = partial(sqlite_push.apply_push, self._conn, texts, every, json.dumps(ids))
        await self._run(query, write=True)
        return PushCommit(every, set(ids))

    async def prune_push_events(
        self, account: str, received_before: float, limit: int = 10_000
    ) -> int:
        return await self._run(
            partial(sqlite_push.prune_push_events, self._conn, account, received_before, limit),
            write=True,
        )

    async def size_bytes(self) -> int:
        """The file and its write-ahead log, on disk."""
        return sum(
            path.stat().st_size
            for path in (self.path, self.path.with_name(self.path.name + "-wal"))
            if path.exists()
        )

    # Everything below runs on the store's thread.

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    def _open(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            if self.path.stat().st_size == 0:
                # SQLite would take it for a new store: a truncated store must not start afresh.
                raise StoreError(
                    f"the store {self.path} is an empty file (0 bytes), not a store: restore it"
                    " from a backup, or remove it to start a new, empty store"
                )
        db: sqlite3.Connection | None = None
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
            db.execute("PRAGMA temp_store=MEMORY")
            db.execute("PRAGMA cache_size=-65536")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"{self.path} has schema version {version}; this exporter knows up to"
                    f" {SCHEMA_VERSION} (it was written by a newer exporter)"
                )
            problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
            if problems != ["ok"]:
                raise StoreError(
                    f"the store {self.path} is corrupt (integrity check: {problems[0]}): restore"
                    " it from a backup, or move it away to start a new, empty store"
                )
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                db.executescript(f"BEGIN;{migration};PRAGMA user_version={number};COMMIT;")
            stat = self.path.stat()
        except (sqlite3.DatabaseError, StoreError, OSError) as exc:
            if db is not None:
                db.close()
            if isinstance(exc, StoreError):
                raise
            if getattr(exc, "sqlite_errorname", "").startswith("SQLITE_CORRUPT"):
                raise StoreError(
                    f"the store {self.path} is corrupt ({exc}): restore it from a backup, or"
                    " move it away to start a new, empty store"
                ) from None
            raise StoreError(f"cannot open the store {self.path}: {exc}") from None
        self._identity = (stat.st_dev, stat.st_ino)
        self._db = db

    def _close(self) -> None:
        if self._db is not None:
            try:
                self._db.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass  # an unwritable store still closes
            finally:
                self._db.close()
                self._db = None

    def _check_file(self) -> bool:
        """The file is still the one opened and has room; False when a write probe is pointless."""
        try:
            stat = self.path.stat()
        except OSError:
            stat = None
        if stat is None or (stat.st_dev, stat.st_ino) != self._identity:
            self.health.report(
                "missing",
                f"the store file {self.path} was deleted or replaced while open: what is"
                " committed now can never be read again",
            )
            return False
        disk = os.statvfs(self.path.parent)
        free = disk.f_bavail * disk.f_frsize
        if free < MIN_FREE_BYTES:
            self.health.report(
                "unwritable", f"the file system holding {self.path} is full ({free} bytes free)"
            )
            return False
        return True

    def _probe(self) -> None:
        """A tiny commit: a read-only file or file system, or a failing disk, shows at once."""
        db = self._conn
        with transaction(db, synchronous="NORMAL"):
            db.execute("INSERT OR REPLACE INTO probe (id, at) VALUES (1, ?)", (time.time(),))

    def _integrity(self) -> str | None:
        """SQLite's quick check on a connection of its own (a thread of its own: no poll waits)."""
        try:
            db = sqlite3.connect(f"file:{quote(str(self.path))}?mode=ro", uri=True)
            try:
                problems = [row[0] for row in db.execute("PRAGMA quick_check(3)")]
            finally:
                db.close()
        except sqlite3.Error as exc:
            return str(exc)
        return None if problems == ["ok"] else str(problems[0])

    def _insert_refs(
        self, refs: Sequence[NewRef], label_values: list[tuple[str, str]]
    ) -> InsertResult:
        db = self._conn
        result = InsertResult()
        with transaction(db):
            db.executemany("INSERT OR IGNORE INTO label_values VALUES (?, ?)", label_values)
            for ref in refs:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO refs (account, ref_key, labels, submitted_at,"
                    " tracked_at, next_poll_at, state, polls, last_poll_at, finished_at,"
                    " priority, in_flight) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        ref.account,
                        ref.ref_key,
                        ref.labels,
                        ref.submitted_at,
                        ref.tracked_at,
                        ref.next_poll_at,
                        ref.state,
                        ref.polls,
                        ref.last_poll_at,
                        ref.finished_at,
                        ref.priority,
                        int(ref.in_flight),
                    ),
                )
                new = cursor.rowcount == 1
                result.new.append(new)
                if new:
                    result.rows.extend(ref.rows)
            # The book gets the rows the store added: the same sums, in the same order.
            result.rows = summed(result.rows)
            add_series(db, result.rows)
        return result

    def _cursor(self, account: str, feed: str) -> str | None:
        row = self._conn.execute(
            "SELECT cursor FROM feed_cursors WHERE account = ? AND feed = ?", (account, feed)
        ).fetchone()
        return None if row is None else str(row[0])

    def _save_cursor(self, account: str, feed: str, cursor: str) -> None:
        db = self._conn
        with transaction(db):
            db.execute(
                "INSERT INTO feed_cursors (account, feed, cursor) VALUES (?, ?, ?)"
                " ON CONFLICT (account, feed) DO UPDATE SET cursor = excluded.cursor",
                (account, feed, cursor),
            )

    def _due_refs(
        self,
        account: str,
        now: float,
        limit: int,
        after: tuple[float, int] | None,
        priority: int,
    ) -> list[tuple[float, DueRef]]:
        start = after if after is not None else (float("-inf"), 0)
        # One JSON text for all rows: SQLite works in one step, and the GIL is
        # not handed back and forth with the event loop for every row.
        (text,) = self._conn.execute(
            "SELECT json_group_array(json_array(next_poll_at, id, ref_key, labels, submitted_at,"
            " polls, last_poll_at, state)) FROM (SELECT * FROM refs WHERE account = ?"
            " AND priority = ? AND next_poll_at IS NOT NULL AND next_poll_at <= ?"
            " AND (next_poll_at, id) > (?, ?) ORDER BY next_poll_at, id LIMIT ?)",
            (account, priority, now, start[0], start[1], limit),
        ).fetchone()
        return [(row[0], DueRef(*row[1:])) for row in json.loads(text)]

    def _apply(self, updates: Sequence[RefUpdate], rows: Sequence[SeriesRow]) -> None:
        """Poll commits skip the fsync (a crash of the machine can only make those polls
        happen again); intake commits keep the configured setting."""
        db = self._conn
        with transaction(db, synchronous="NORMAL"):
            write_updates(db, updates)
            add_series(db, rows)

    def _min(self, query: str, account: str) -> float | None:
        """An indexed MIN over one account's refs."""
        (value,) = self._conn.execute(query, (account,)).fetchone()
        return None if value is None else float(value)

    def _series(self) -> list[SeriesRow]:
        return [
            (name, labels, value)
            for name, labels, value in self._conn.execute("SELECT * FROM series")
        ]

    def _label_values(self) -> list[tuple[str, str]]:
        return [
            (key, value) for key, value in self._conn.execute("SELECT key, value FROM label_values")
        ]

    def _prune(self, finished_before: float, limit: int) -> int:
        db = self._conn
        with transaction(db):
            cursor = db.execute(
                "DELETE FROM refs WHERE id IN (SELECT id FROM refs WHERE finished_at IS NOT NULL"
                " AND finished_at < ? LIMIT ?)",
                (finished_before, limit),
            )
        return cursor.rowcount

    def _count_refs(self, account: str | None, open_only: bool) -> int:
        query = "SELECT COUNT(*) FROM refs WHERE 1=1"
        args: list[object] = []
        if account is not None:
            query += " AND account = ?"
            args.append(account)
        if open_only:
            query += " AND next_poll_at IS NOT NULL"
        return int(self._conn.execute(query, args).fetchone()[0])


_NEXT_POLL = "SELECT MIN(next_poll_at) FROM refs WHERE account = ? AND next_poll_at IS NOT NULL"
_OLDEST_OPEN = "SELECT MIN(submitted_at) FROM refs WHERE account = ? AND in_flight = 1"

"""The PostgreSQL store: one database shared by several exporter replicas.

Same tables as SQLite's, plus what sharing needs. Due refs are *leased*:
:meth:`PostgresStore.due_refs` takes them (``FOR UPDATE SKIP LOCKED``, so
replicas never wait on each other) until ``lease_until`` on the database's
clock, and bumps each one's ``version``. A result commits only against the
version its poll read, so a replica that stalled past its lease, whose refs
another replica has polled since, changes nothing and counts nothing; the
series rows of each update are added in the same statement, and only for
the updates that applied. A dead replica's refs are due again for everyone
once their lease runs out.

Connections come from a psycopg pool and run in autocommit: every write is
one statement (:mod:`.postgres_sql`), so one round trip, atomic by itself.
The URL's password never reaches a message: every error is redacted.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterable, Sequence
from typing import Any, LiteralString, NoReturn

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from sms_delivery_exporter.config import DatabaseUrl
from sms_delivery_exporter.store import postgres_sql as sql
from sms_delivery_exporter.store.health import StoreHealth
from sms_delivery_exporter.store.interface import StoreError
from sms_delivery_exporter.store.postgres_schema import MIGRATION_LOCK, MIGRATIONS, SCHEMA_VERSION
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
)

CONNECT_TIMEOUT = 10
"""Seconds to establish one connection: an unreachable database is an error, not a hang."""
WAIT_TIMEOUT = 5.0
"""Seconds an operation waits for a pooled connection before the store counts as unreachable."""
_RETRIED = ("40001", "40P01")
"""Serialization failures and deadlocks: the statement is simply run again."""


class PostgresStore:
    """The exporter's shared database."""

    def __init__(self, database: DatabaseUrl, *, lease: float, max_connections: int = 10) -> None:
        self.database = database
        self.health = StoreHealth()
        self.replica = f"{socket.gethostname()}/{os.getpid()}/{secrets.token_hex(4)}"
        """This exporter among the replicas (the leadership's holder)."""
        self._lease = lease
        self._max_connections = max_connections
        self._pool: AsyncConnectionPool | None = None

    @property
    def is_open(self) -> bool:
        return self._pool is not None

    @property
    def lease(self) -> float:
        return self._lease

    async def open(self) -> None:
        """Connect, migrate the schema, start the pool; :class:`StoreError` says why not."""
        try:
            connection = await psycopg.AsyncConnection.connect(
                self.database.text, connect_timeout=CONNECT_TIMEOUT, autocommit=True
            )
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot connect to the PostgreSQL store {self.database.display}:"
                f" {self._say(exc)} (is it running, and do store.url and its password fit?)"
            ) from None
        try:
            await self._migrate(connection)
        except psycopg.Error as exc:
            raise StoreError(
                f"cannot prepare the PostgreSQL store {self.database.display}: {self._say(exc)}"
            ) from None
        finally:
            await connection.close()
        pool = AsyncConnectionPool(
            self.database.text,
            kwargs={
                "autocommit": True,
                "connect_timeout": CONNECT_TIMEOUT,
                "application_name": "sms-delivery-exporter",
            },
            min_size=1,
            max_size=self._max_connections,
            timeout=WAIT_TIMEOUT,
            open=False,
            name="store",
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT)
        except PoolTimeout:
            await pool.close()
            raise StoreError(
                f"cannot connect to the PostgreSQL store {self.database.display}: the pool's"
                f" first connection took over {CONNECT_TIMEOUT} s"
            ) from None
        self._pool = pool

    async def _migrate(self, connection: psycopg.AsyncConnection[Any]) -> None:
        async with connection.transaction():
            await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            await connection.execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)"
            )
            row = await (
                await connection.execute("SELECT max(version) FROM schema_version")
            ).fetchone()
            version = (row[0] if row else None) or 0
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"the PostgreSQL store {self.database.display} has schema version {version};"
                    f" this exporter knows up to {SCHEMA_VERSION} (a newer exporter wrote it)"
                )
            for number, migration in enumerate(MIGRATIONS[version:], start=version + 1):
                await connection.execute(migration.encode())
                await connection.execute("DELETE FROM schema_version")
                await connection.execute("INSERT INTO schema_version VALUES (%s)", (number,))

    async def close(self) -> None:
        """Close the pool; safe to call twice, never fails."""
        pool, self._pool = self._pool, None
        if pool is not None:
            with contextlib.suppress(Exception):
                await pool.close(timeout=5.0)

    async def check(self, *, integrity: bool = False) -> None:
        """A one-row write: an unreachable or read-only database shows at once (never raises)."""
        if self._pool is not None:
            with contextlib.suppress(StoreError):
                await self._execute(sql.PROBE, {}, write=True)

    async def insert_refs(
        self, refs: Sequence[NewRef], label_values: Iterable[tuple[str, str]] = ()
    ) -> InsertResult:
        first: dict[tuple[str, str], int] = {}
        for index, ref in enumerate(refs):
            first.setdefault((ref.account, ref.ref_key), index)
        unique = [refs[index] for index in first.values()]
        labels = list(label_values)
        row_owner: list[NewRef] = [ref for ref in unique for _ in ref.rows]
        rows = [row for ref in unique for row in ref.rows]
        params = {
            "keys": [key for key, _ in labels],
            "values": [value for _, value in labels],
            "account": [ref.account for ref in unique],
            "ref_key": [ref.ref_key for ref in unique],
            "labels": [ref.labels for ref in unique],
            "submitted_at": [ref.submitted_at for ref in unique],
            "tracked_at": [ref.tracked_at for ref in unique],
            "next_poll_at": [ref.next_poll_at for ref in unique],
            "state": [ref.state for ref in unique],
            "polls": [ref.polls for ref in unique],
            "last_poll_at": [ref.last_poll_at for ref in unique],
            "finished_at": [ref.finished_at for ref in unique],
            "priority": [ref.priority for ref in unique],
            "in_flight": [ref.in_flight for ref in unique],
            "row_account": [ref.account for ref in row_owner],
            "row_ref_key": [ref.ref_key for ref in row_owner],
            **_row_columns(rows),
        }
        inserted = {(account, key) for account, key in await self._fetch(sql.INSERT_REFS, params)}
        result = InsertResult()
        for index, ref in enumerate(refs):
            key = (ref.account, ref.ref_key)
            new = key in inserted and first[key] == index
            result.new.append(new)
            if new:
                result.rows.extend(ref.rows)
        return result

    async def due_refs(
        self,
        account: str,
        now: float,
        limit: int,
        after: tuple[float, int] | None = None,
        priority: int = 0,
    ) -> list[tuple[float, DueRef]]:
        """Lease due refs of one class, most overdue first; ``after`` is not needed: refs
        already handed out (to this or any replica) are leased, so never read again."""
        params = {
            "account": account,
            "priority": priority,
            "now": now,
            "limit": limit,
            "lease": self._lease,
        }
        rows = await self._fetch(sql.CLAIM, params, write=True)
        rows.sort(key=lambda row: (row[0], row[1]))
        return [(row[0], DueRef(*row[1:])) for row in rows]

    async def release(self, refs: Sequence[DueRef]) -> None:
        if refs:
            params = {"id": [ref.id for ref in refs], "version": [ref.version for ref in refs]}
            await self._execute(sql.RELEASE, params, write=True)

    async def apply(
        self, updates: Sequence[RefUpdate], rows: Sequence[SeriesRow] = ()
    ) -> list[SeriesRow]:
        if not updates and not rows:
            return []
        params = _commit_params(updates, rows)
        applied = {row[0] for row in await self._fetch(sql.APPLY, params, write=True)}
        return [*rows, *(row for u in updates if u.id in applied for row in u.rows)]

    async def next_poll_at(self, account: str) -> float | None:
        return await self._value(sql.NEXT_POLL, {"account": account})

    async def oldest_open_submitted_at(self, account: str) -> float | None:
        return await self._value(sql.OLDEST_OPEN, {"account": account})

    async def series(self) -> list[SeriesRow]:
        rows = await self._fetch("SELECT name, labels, value FROM series", {})
        return [(name, labels, value) for name, labels, value in rows]

    async def label_values(self) -> list[tuple[str, str]]:
        rows = await self._fetch("SELECT key, value FROM label_values", {})
        return [(key, value) for key, value in rows]

    async def prune(self, finished_before: float, limit: int = 10_000) -> int:
        params = {"before": finished_before, "limit": limit}
        return await self._execute(sql.PRUNE, params, write=True)

    async def count_refs(self, account: str | None = None, *, open_only: bool = False) -> int:
        query = (
            "SELECT count(*) FROM refs WHERE (%(account)s::text IS NULL OR account = %(account)s)"
        )
        if open_only:
            query += " AND next_poll_at IS NOT NULL"
        return int(await self._value(query, {"account": account}) or 0)

    async def size_bytes(self) -> int:
        """What the store's tables and indexes take in the database."""
        return int(await self._value(sql.SIZE, {}) or 0)

    async def cursor(self, account: str, feed: str) -> str | None:
        rows = await self._fetch(sql.CURSOR, {"account": account, "feed": feed})
        return str(rows[0][0]) if rows else None

    async def save_cursor(self, account: str, feed: str, cursor: str) -> None:
        params = {"account": account, "feed": feed, "cursor": cursor}
        await self._execute(sql.SAVE_CURSOR, params, write=True)

    async def lead(self, ttl: float) -> bool:
        rows = await self._fetch(sql.LEAD, {"holder": self.replica, "ttl": ttl}, write=True)
        return bool(rows)

    async def resign(self) -> None:
        with contextlib.suppress(StoreError):
            await self._execute(sql.RESIGN, {"holder": self.replica}, write=True)

    # Webhooks: the inbox every replica shares.

    async def add_push_events(self, events: Sequence[NewPushEvent]) -> list[int | None]:
        if not events:
            return []
        params = {
            "account": [e.account for e in events],
            "dedupe_key": [e.dedupe_key for e in events],
            "received_at": [e.received_at for e in events],
            "event": [e.event for e in events],
        }
        inserted = await self._fetch(sql.ADD_PUSH_EVENTS, params, write=True)
        return kept_event_ids(events, inserted)

    async def pending_push_events(
        self, after: int = 0, limit: int = 10_000, received_before: float | None = None
    ) -> list[PushEventRow]:
        params = {"after": after, "limit": limit, "before": received_before}
        return [PushEventRow(*row) for row in await self._fetch(sql.PENDING_PUSH_EVENTS, params)]

    async def find_refs(self, account: str, ref_keys: Sequence[str]) -> list[FoundRef]:
        rows = await self._fetch(sql.FIND_REFS, {"account": account, "keys": list(ref_keys)})
        return [FoundRef(DueRef(*row[:8]), row[8]) for row in rows]

    async def apply_push(
        self,
        updates: Sequence[RefUpdate],
        events: Sequence[tuple[int, int]],
        rows: Sequence[SeriesRow] = (),
    ) -> PushCommit:
        params = {
            **_commit_params(updates, rows),
            "event_id": [event_id for event_id, _ in events],
            "event_ref": [ref_id for _, ref_id in events],
        }
        found: dict[str, set[int]] = {"applied": set(), "stale": set(), "ref": set()}
        rows_out, _ = await self._run(
            sql.APPLY_PUSH, params, write=True, fetch=True, first=sql.LOCK_PUSH_EVENTS
        )
        for kind, some_id in rows_out:
            found[kind].add(some_id)
        done = found["ref"]
        committed = [*rows, *(row for u in updates if u.id in done for row in u.rows)]
        return PushCommit(committed, found["applied"], found["stale"])

    async def prune_push_events(
        self, account: str, received_before: float, limit: int = 10_000
    ) -> int:
        params = {"account": account, "before": received_before, "limit": limit}
        return await self._execute(sql.PRUNE_PUSH_EVENTS, params, write=True)

    # Running statements: errors become StoreError, redacted, and are noted in health.

    async def _fetch(
        self, query: LiteralString, params: dict[str, Any], *, write: bool = False
    ) -> list[tuple[Any, ...]]:
        rows, _ = await self._run(query, params, write=write, fetch=True)
        return rows

    async def _execute(
        self, query: LiteralString, params: dict[str, Any], *, write: bool = False
    ) -> int:
        _, count = await self._run(query, params, write=write, fetch=False)
        return count

    async def _value(self, query: LiteralString, params: dict[str, Any]) -> float | None:
        rows = await self._fetch(query, params)
        value = rows[0][0] if rows else None
        return None if value is None else float(value)

    async def _run(
        self,
        query: LiteralString,
        params: dict[str, Any],
        *,
        write: bool,
        fetch: bool,
        first: LiteralString | None = None,
    ) -> tuple[list[tuple[Any, ...]], int]:
        """One statement on a pooled connection; a deadlock or serialization failure (the
        statement was rolled back whole) is run again at once. ``first``: a statement run
        before it in one transaction (taking row locks), with the same parameters."""
        pool = self._pool
        if pool is None:
            raise StoreError("the store is not open")
        for attempt in range(len(_RETRIED) + 2):
            try:
                async with pool.connection() as connection:
                    if first is None:
                        cursor = await connection.execute(query, params)
                        result = (await cursor.fetchall() if fetch else [], cursor.rowcount)
                    else:
                        async with connection.transaction():
                            await connection.execute(first, params)
                            cursor = await connection.execute(query, params)
                            result = (await cursor.fetchall() if fetch else [], cursor.rowcount)
            except PoolTimeout:
                self._unreachable("no connection to the database could be had")
            except psycopg.Error as exc:
                if exc.sqlstate in _RETRIED and attempt <= len(_RETRIED):
                    continue
                if isinstance(exc, psycopg.OperationalError) and _connection_lost(exc):
                    self._unreachable(self._say(exc))
                self._failed(exc, write)
            else:
                self.health.clear("unreachable")
                if write:
                    self.health.clear("unwritable")
                return result
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _unreachable(self, reason: str) -> NoReturn:
        self.health.report("unreachable", f"the database {self.database.display}: {reason}")
        raise StoreError(f"the PostgreSQL store {self.database.display} is unreachable: {reason}")

    def _failed(self, exc: psycopg.Error, write: bool) -> NoReturn:
        message = self._say(exc)
        if write:
            self.health.report("unwritable", f"a commit failed: {message}")
        raise StoreError(f"the PostgreSQL store {self.database.display} failed: {message}")

    def _say(self, exc: BaseException) -> str:
        """An error's text, one line, without the password."""
        text = " ".join(str(exc).split()) or type(exc).__name__
        return self.database.redact(text)


def _connection_lost(exc: psycopg.OperationalError) -> bool:
    """No answer from the server, or the server going away (shutdown, crash, restart)."""
    state = exc.sqlstate
    return state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03")


def _commit_params(updates: Sequence[RefUpdate], rows: Sequence[SeriesRow]) -> dict[str, Any]:
    """The parameters of a statement committing results: the updates, then the series rows
    (the batch's own, of ref 0, and each update's)."""
    owners = [0] * len(rows) + [u.id for u in updates for _ in u.rows]
    every_row = [*rows, *(row for u in updates for row in u.rows)]
    return {
        "id": [u.id for u in updates],
        "version": [u.version for u in updates],
        "state": [u.state for u in updates],
        "changed": [u.state_changed or u.next_poll_at is None for u in updates],
        "polls": [u.polls for u in updates],
        "last_poll_at": [u.last_poll_at for u in updates],
        "next_poll_at": [u.next_poll_at for u in updates],
        "finished_at": [u.finished_at for u in updates],
        "priority": [u.priority for u in updates],
        "in_flight": [u.in_flight for u in updates],
        "row_ref": owners,
        **_row_columns(every_row),
    }


def _row_columns(rows: Sequence[SeriesRow]) -> dict[str, list[Any]]:
    return {
        "row_name": [name for name, _, _ in rows],
        "row_labels": [labels for _, labels, _ in rows],
        "row_amount": [amount for _, _, amount in rows],
    }

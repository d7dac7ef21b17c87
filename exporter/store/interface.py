"""The store interface: every tracked ref, its state and schedule, and the outcome counters.

A store commits a ref's state change and the outcome series changes it
caused in one transaction, so a crash loses both or neither, and never
counts a final status twice. SQLite is the embedded default, one process's
alone; PostgreSQL is shared by several exporter replicas, which lease the
refs they poll and elect one leader to serve the shared series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from sms_delivery_exporter.store.health import StoreHealth
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
)


class StoreError(Exception):
    """The store cannot be opened, is not ours, or cannot commit."""


class Store(Protocol):
    """What the host needs of a store. Every method may raise :class:`StoreError`."""

    @property
    def is_open(self) -> bool:
        """Opened and not closed since."""

    @property
    def health(self) -> StoreHealth:
        """What is wrong with the store now (kept up to date by failures and :meth:`check`)."""

    @property
    def lease(self) -> float | None:
        """Seconds the refs :meth:`due_refs` hands out stay this exporter's; None when the
        store is this process's alone (SQLite: nothing is leased, nothing is shared)."""

    async def check(self, *, integrity: bool = False) -> None:
        """Look for problems (the file gone, no room, writes refused; ``integrity``: damage)."""

    async def open(self) -> None:
        """Open (creating the schema if new), or :class:`StoreError` naming the problem."""

    async def close(self) -> None:
        """Close; safe to call twice."""

    async def insert_refs(
        self, refs: Sequence[NewRef], label_values: Iterable[tuple[str, str]] = ()
    ) -> InsertResult:
        """Insert refs and, for the new ones, their series rows, in one transaction.

        A ref may come with the state of its first observation (a discovered
        message): it is inserted as such, finished if its ``next_poll_at`` is None.

        ``label_values`` are new application label values to remember with them.
        """

    async def due_refs(
        self,
        account: str,
        now: float,
        limit: int,
        after: tuple[float, int] | None = None,
        priority: int = 0,
    ) -> list[tuple[float, DueRef]]:
        """Open refs of one priority class whose poll time has come, most overdue first.

        ``after`` resumes past the (next_poll_at, id) of the last ref handed
        out; each ref comes with its next_poll_at, the cursor of the next call.
        A shared store leases the refs it hands out (for :attr:`lease` seconds):
        no other exporter gets them until they are applied, released or expired.
        """

    async def release(self, refs: Sequence[DueRef]) -> None:
        """Hand back refs that were not polled (a pause), so that they are due again at once."""

    async def apply(
        self, updates: Sequence[RefUpdate], rows: Sequence[SeriesRow] = ()
    ) -> list[SeriesRow]:
        """Commit poll results and the series changes they caused, atomically; the rows committed.

        ``rows`` are committed with the batch; each update's own ``rows`` only
        with it. In a shared store an update whose ref moved past its
        ``version`` (its lease lost: another exporter polled it since) changes
        nothing and counts nothing.
        """

    async def next_poll_at(self, account: str) -> float | None:
        """When the account's earliest open ref is due."""

    async def oldest_open_submitted_at(self, account: str) -> float | None:
        """Submission time of the account's oldest ref with a message not final yet."""

    async def series(self) -> list[SeriesRow]:
        """Every outcome series' value, for the book to start from."""

    async def label_values(self) -> list[tuple[str, str]]:
        """Application label values seen so far, as (key, value)."""

    async def prune(self, finished_before: float, limit: int = 10_000) -> int:
        """Delete up to ``limit`` refs finished before a time; how many went."""

    async def count_refs(self, account: str | None = None, *, open_only: bool = False) -> int:
        """For tests and summaries, not the hot path."""

    async def size_bytes(self) -> int:
        """What the store takes on disk (for ``sms_exporter_store_size_bytes``)."""

    async def cursor(self, account: str, feed: str) -> str | None:
        """Where discovery left one of the account's feeds (its own text), or None if never."""

    async def save_cursor(self, account: str, feed: str, cursor: str) -> None:
        """Keep where discovery left a feed, once what it found is committed (durably:
        a restart resumes there, and the refs' own uniqueness absorbs a repeat)."""

    async def lead(self, ttl: float) -> bool:
        """Take or keep, for ``ttl`` seconds, the leadership of the exporters sharing the
        store; whether this one holds it (a store of one process's: always)."""

    async def resign(self) -> None:
        """Give the leadership up, if held, so that another exporter takes it at once."""

    # Webhooks (push). An event is kept before its call is acknowledged, and
    # marked applied in the transaction that commits its effects.

    async def add_push_events(self, events: Sequence[NewPushEvent]) -> list[int | None]:
        """Keep events durably, in one transaction (the configured ``synchronous``).

        Returns each event's id, or None where (account, dedupe_key) was kept before
        (a redelivery, or a second copy in the same call): that one is not kept again.
        """

    async def pending_push_events(
        self, after: int = 0, limit: int = 10_000, received_before: float | None = None
    ) -> list[PushEventRow]:
        """Kept events not applied yet, by id, from past ``after`` (to resume after a restart);
        ``received_before``: only those received before then (another replica's left over)."""

    async def find_refs(self, account: str, ref_keys: Sequence[str]) -> list[FoundRef]:
        """The account's refs with these keys, open or finished; keys not tracked are left out."""

    async def apply_push(
        self,
        updates: Sequence[RefUpdate],
        events: Sequence[tuple[int, int]],
        rows: Sequence[SeriesRow] = (),
    ) -> PushCommit:
        """Commit refs changed by events (each update with its own ``rows``), ``rows`` of
        the batch, and mark the events applied, atomically.

        ``events`` are (event id, ref id) pairs, ref id 0 for an event done without a
        ref. An event is marked applied only with its ref's update. In a shared store
        an update whose ref moved past its ``version``, or one of whose events another
        replica applied meanwhile, changes nothing and counts nothing (see
        :class:`PushCommit`). A ref in ``updates`` is one no poll of this process holds.
        """

    async def prune_push_events(
        self, account: str, received_before: float, limit: int = 10_000
    ) -> int:
        """Forget up to ``limit`` applied events of an account received before a time (their
        dedupe keys go with them); how many went. Events not applied yet are kept."""

"""What goes in and out of a store: refs to insert, due refs, poll results, series changes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

SeriesRow = tuple[str, str, float]
"""(series name, labels as a JSON object with sorted keys, amount): one outcome series change."""


def summed(rows: Iterable[SeriesRow]) -> list[SeriesRow]:
    """The changes of each series added together, in first-seen order (zero sums kept: they
    still create the series).

    A store writes one upsert per row: a batch of a thousand deliveries makes a
    few rows, not thousands, and SQLite's executemany takes the GIL back from the
    event loop once per row.
    """
    total: dict[tuple[str, str], float] = {}
    for name, labels, amount in rows:
        key = (name, labels)
        total[key] = total.get(key, 0.0) + amount
    return [(name, labels, amount) for (name, labels), amount in total.items()]


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per ref
class NewRef:
    """A ref to start tracking, and the series changes its registration causes if it is new."""

    account: str
    ref_key: str
    labels: str
    submitted_at: float
    tracked_at: float
    next_poll_at: float | None
    """None: finished at insertion (a discovered message already final)."""
    rows: Sequence[SeriesRow] = ()
    """Committed with the ref, and only if it was not registered before."""
    state: str = ""
    """The state a first observation left (a discovered message: its list answer)."""
    polls: int = 0
    last_poll_at: float | None = None
    finished_at: float | None = None
    priority: int = 0
    in_flight: bool = True


@dataclass(slots=True)
class InsertResult:
    """Which refs were new (the others were duplicates) and the series rows committed."""

    new: list[bool] = field(default_factory=list)
    rows: list[SeriesRow] = field(default_factory=list)


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class DueRef:
    """A ref whose poll time has come, as the tracker needs it."""

    id: int
    ref_key: str
    labels: str
    submitted_at: float
    polls: int
    last_poll_at: float | None
    state: str
    version: int = 0
    """The ref's version when it was handed out (a shared store's lease; 0 in SQLite)."""


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class RefUpdate:
    """A ref after a poll: its state and its schedule (``next_poll_at`` None: finished)."""

    id: int
    state: str
    polls: int
    last_poll_at: float | None
    next_poll_at: float | None
    finished_at: float | None
    state_changed: bool = True
    """False when only the schedule moved: the state text is not written again."""
    priority: int = 0
    """0: a first poll or an open message; 1: the long tail or a read-receipt wait."""
    in_flight: bool = True
    """A message of the ref is not final yet."""
    version: int = 0
    """The :attr:`DueRef.version` the poll read: a shared store applies the update only if
    the ref is still at it (the lease still held), else it changes and counts nothing."""
    rows: Sequence[SeriesRow] = ()
    """The series changes this update causes, committed only with it (a shared store's
    writers attach them here; SQLite's writer passes the batch's sum to apply instead)."""


@dataclass(slots=True)
class NewPushEvent:
    """A webhook event to keep until it is applied (its ``event`` text holds no phone number)."""

    account: str
    dedupe_key: str
    """Unique per account over the dedupe window: a second event with it is a duplicate."""
    received_at: float
    event: str


@dataclass(slots=True)
class PushEventRow:
    """A kept webhook event not applied yet."""

    id: int
    account: str
    received_at: float
    event: str


@dataclass(slots=True)
class PushCommit:
    """What :meth:`Store.apply_push` committed."""

    rows: list[SeriesRow]
    """The series changes committed (of the updates that applied, and the batch's own)."""
    applied: set[int]
    """The events this commit marked applied."""
    stale: set[int] = field(default_factory=set)
    """Events found applied already (by another replica sharing the store): nothing more to do.
    An event in neither set had its ref changed since it was read: read it again and retry."""


def kept_event_ids(
    events: Sequence[NewPushEvent], inserted: Iterable[tuple[int, str, str]]
) -> list[int | None]:
    """Each event's id from the (id, account, dedupe key) rows an insert returned, or None
    for one kept before (or a second copy in the same call)."""
    new = {(account, key): event_id for event_id, account, key in inserted}
    return [new.pop((e.account, e.dedupe_key), None) for e in events]


@dataclass(slots=True)
class FoundRef:
    """A tracked ref found by its key: as polls see it, and whether it is still open."""

    ref: DueRef
    next_poll_at: float | None
    """None once the ref is finished."""

"""Which refs of one account are being worked on: a ref is polled or pushed by one path at a time.

A poll's result is computed from the state the dispatcher read; a webhook's
from the state it found. Were both to work on one ref at once, the later
commit would overwrite the earlier, and a final status could count twice.
So both hold a ref here while they work on it, from the moment its state is
read until the commit of what they made of it.

One more hazard: a read of refs (the dispatcher's due refs, the webhooks'
refs by key) may start before the other path's commit and end after it,
carrying the state from before. Refs the other path committed since a read
began are :meth:`changed_since_read`, and the reader leaves them for its next read.

In-process coordination: one exporter per SQLite store (its lock sees to
that). Several replicas sharing a database need the database's row locks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal

Holder = Literal["poll", "push"]


class Reservations:
    """Ref ids one account's poller or push applier holds, each its own."""

    def __init__(self) -> None:
        self._by: dict[Holder, set[int]] = {"poll": set(), "push": set()}
        self._changed: dict[Holder, set[int]] = {"poll": set(), "push": set()}
        """Per reader: refs the other holder committed changes to since the reader's read began."""
        self.on_release: dict[Holder, list[Callable[[], None]]] = {"poll": [], "push": []}
        """Called when one holder releases refs: the push applier waits for the poller's.
        (The dispatcher does not wait for webhooks: it reads again within a second.)"""

    def __contains__(self, ref_id: object) -> bool:
        return ref_id in self._by["poll"] or ref_id in self._by["push"]

    def held_by(self, holder: Holder) -> int:
        return len(self._by[holder])

    def hold(self, ref_ids: Iterable[int], *, by: Holder) -> None:
        self._by[by].update(ref_ids)

    def release(self, ref_ids: Iterable[int], *, by: Holder, changed: bool = False) -> None:
        """Done with these refs; ``changed``: a commit changed them."""
        ids = list(ref_ids)
        self._by[by].difference_update(ids)
        if changed:
            self._changed["push" if by == "poll" else "poll"].update(ids)
        for listener in self.on_release[by]:
            listener()

    def forget(self, *, by: Holder) -> None:
        """A fresh start of one holder: what it held was never committed."""
        self.release(list(self._by[by]), by=by)

    def begin_read(self, *, by: Holder) -> None:
        """One holder starts reading refs from the store (one read at a time per holder)."""
        self._changed[by].clear()

    def changed_since_read(self, ref_id: int, *, by: Holder) -> bool:
        """The other holder committed a change to the ref since ``by``'s read began: what it
        read may be stale."""
        return ref_id in self._changed[by]

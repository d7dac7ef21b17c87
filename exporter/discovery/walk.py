"""Walking one feed back from its newest page to where the last walk left it.

Pure logic over a :class:`Discoverer`: no store, no metrics. A feed's
cursor is the send time of the newest message the last walk saw and digests
of the refs seen at that very time: a message sent in the same second after
the walk is new, one of those refs is not. Pages may overlap (see
:class:`DiscoveryPage`); repeats within a walk are skipped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from sms_delivery_exporter.api import DiscoveredMessage, Discoverer, DiscoveryFeed
from sms_delivery_exporter.intake.items import ref_key


@dataclass(frozen=True, slots=True)
class FeedCursor:
    """Where a feed was left, as kept in the store."""

    newest: float | None = None
    """Send time of the newest message seen (walked-back feeds)."""
    at_newest: frozenset[str] = frozenset()
    """Digests of the refs seen sent at exactly ``newest``."""
    position: str | None = None
    """The provider's own cursor (forward feeds)."""

    @classmethod
    def load(cls, text: str | None) -> FeedCursor:
        """A stored cursor; an unreadable one is a fresh start (the store dedupes refs)."""
        if not text:
            return cls()
        try:
            data = json.loads(text)
            newest = data.get("newest")
            return cls(
                float(newest) if newest is not None else None,
                frozenset(str(d) for d in data.get("at_newest", [])),
                data.get("position"),
            )
        except (ValueError, TypeError, AttributeError):
            return cls()

    def dump(self) -> str:
        return json.dumps(
            {"newest": self.newest, "at_newest": sorted(self.at_newest), "position": self.position}
        )


def digest(key: str) -> str:
    """A short digest of a ref's key: the cursor keeps no message id in clear."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


@dataclass(slots=True)
class Walk:
    """What one walk of a feed found."""

    new: list[tuple[str, DiscoveredMessage]] = field(default_factory=list)
    """(ref key, message) of messages not seen before, newest first."""
    cursor: FeedCursor = FeedCursor()
    pages: int = 0
    truncated: bool = False
    """Stopped at ``max_pages`` before reaching messages seen before."""


async def walk_back(
    discoverer: Discoverer,
    feed: DiscoveryFeed,
    cursor: FeedCursor,
    *,
    since: float,
    max_pages: int,
) -> Walk:
    """Pages of a list feed, newest first, until messages seen before (or sent before
    ``since``); errors from the provider propagate and the cursor is left as it was."""
    walk = Walk(cursor=cursor)
    keys_seen: set[str] = set()
    newest: float | None = None
    at_newest: set[str] = set()
    older: str | None = None
    while walk.pages < max_pages:
        page = await discoverer.page(feed, older)
        walk.pages += 1
        fresh = 0
        reached = False
        for message in page.messages:
            key = ref_key(message.ref)
            if key in keys_seen:
                continue  # the overlap of two pages
            keys_seen.add(key)
            fresh += 1
            sent = message.sent_at
            if sent is not None:
                if newest is None or sent > newest:
                    newest, at_newest = sent, {digest(key)}
                elif sent == newest:
                    at_newest.add(digest(key))
                if sent < since or (cursor.newest is not None and sent < cursor.newest):
                    reached = True
                    continue
                if sent == cursor.newest and digest(key) in cursor.at_newest:
                    continue
            walk.new.append((key, message))
        if reached or page.older is None or fresh == 0:
            break
        older = page.older
    else:
        walk.truncated = True
    walk.cursor = _moved(cursor, newest, at_newest)
    return walk


async def read_forward(
    discoverer: Discoverer, feed: DiscoveryFeed, cursor: FeedCursor, *, max_pages: int
) -> Walk:
    """Pages of a cursor feed from the stored position until one says there is no more."""
    walk = Walk(cursor=cursor)
    position = cursor.position
    while walk.pages < max_pages:
        page = await discoverer.page(feed, position)
        walk.pages += 1
        walk.new.extend((ref_key(m.ref), m) for m in page.messages)
        if page.position is not None:
            position = page.position
        if page.older is None:
            break
    else:
        walk.truncated = True
    walk.cursor = FeedCursor(cursor.newest, cursor.at_newest, position)
    return walk


def _moved(cursor: FeedCursor, newest: float | None, at_newest: set[str]) -> FeedCursor:
    if newest is None or (cursor.newest is not None and newest < cursor.newest):
        return cursor
    if newest == cursor.newest:
        return FeedCursor(newest, cursor.at_newest | at_newest, cursor.position)
    return FeedCursor(newest, frozenset(at_newest), cursor.position)

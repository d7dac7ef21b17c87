"""One account's discovery: every ``interval``, walk each feed and track what is new.

A new message becomes a ref exactly as if an application had registered it
(same key, so the store's uniqueness deduplicates it against registered and
pushed ones), inserted with the state its list answer gives: a message the
list shows final is finished at once and never polled; one still open is
polled by the account's poller from there. The feed's cursor is saved after
the refs are committed, so a crash in between repeats a walk and the
repeated refs are duplicates, never counted twice.

The calls go through the account's own rate limit and health (the poller's
HTTP and governor). With a store shared by replicas only the leader
discovers, so that replicas do not all walk the same feeds.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sms_delivery_exporter.api import (
    BadResponse,
    Discoverer,
    DiscoveryFeed,
    DiscoverySettings,
    ProviderError,
)
from sms_delivery_exporter.config import Account
from sms_delivery_exporter.discovery.walk import FeedCursor, Walk, read_forward, walk_back
from sms_delivery_exporter.intake.sampling import sampled_in
from sms_delivery_exporter.metrics import DiscoveryHealth
from sms_delivery_exporter.outcomes import OutcomeBook
from sms_delivery_exporter.outcomes.catalogue import TRACKED_FROM_DISCOVERY
from sms_delivery_exporter.polling import AccountGovernor, Tracker
from sms_delivery_exporter.store import DueRef, NewRef, Store, StoreError

log = logging.getLogger(__name__)


class AccountDiscovery:
    """Walks one account's feeds and tracks the messages nobody registered."""

    def __init__(
        self,
        *,
        account: Account,
        settings: DiscoverySettings,
        discoverer: Discoverer,
        tracker: Tracker,
        governor: AccountGovernor,
        store: Store,
        book: OutcomeBook,
        health: DiscoveryHealth,
        wake: Callable[[], None] = lambda: None,
        leading: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.settings = settings
        self.discoverer = discoverer
        self.tracker = tracker
        self.governor = governor
        self._store = store
        self._book = book
        self.health = health
        self._wake = wake
        self._leading = leading
        self._clock = clock
        provider, name = account.provider.name, account.name
        kinds = sorted({feed.kind for feed in discoverer.feeds()})
        health.zero(kinds)
        key = book.catalogue.key
        book.ensure(
            (TRACKED_FROM_DISCOVERY, key(TRACKED_FROM_DISCOVERY, (provider, name, kind)))
            for kind in kinds
        )

    async def run(self) -> None:
        """Walk every feed now and then every ``interval``, until cancelled."""
        while True:
            started = self._clock()
            if not self._leading():
                self.health.walking_since.clear()  # another replica walks them
            else:
                for feed in self.discoverer.feeds():
                    # From the first walk a leader tries of this kind: a walk that never
                    # completes is then stale too (SMSDiscoveryStale), not only one that
                    # stopped; a kind walked after a long first walk of another does not
                    # count that one's time.
                    self.health.walking_since.setdefault(feed.kind, self._clock())
                    try:
                        await self.walk(feed)
                    except StoreError as exc:  # the walk is repeated next time
                        log.warning(
                            "discovery could not commit",
                            extra={"account": self.account.name, "error": str(exc)},
                        )
            await asyncio.sleep(max(0.0, started + self.settings.interval - self._clock()))

    async def walk(self, feed: DiscoveryFeed) -> int:
        """One walk of one feed; how many messages it started tracking (0 if it failed)."""
        await self._wait_unpaused()
        name = self.account.name
        cursor = FeedCursor.load(await self._store.cursor(name, feed.name))
        try:
            if self.discoverer.walks_back:
                window = self.account.settings.schedule.tracking_window
                found = await walk_back(
                    self.discoverer,
                    feed,
                    cursor,
                    since=self._clock() - window,
                    max_pages=self.settings.max_pages,
                )
            else:
                found = await read_forward(
                    self.discoverer, feed, cursor, max_pages=self.settings.max_pages
                )
        except ProviderError as error:
            self.health.page(feed.kind, "error")
            if not isinstance(error, BadResponse):
                # 429s, refused credentials, outages: the account's to pause for. An
                # unreadable list answer is discovery's alone (SMSDiscoveryStale), not a
                # status API that is down.
                self.governor.failed(error)
            log.warning(
                "discovery failed",
                extra={"account": name, "feed_kind": feed.kind, "error": str(error)},
            )
            return 0
        except Exception as exc:  # a plugin bug: counted, logged, never fatal
            self.health.page(feed.kind, "error")
            self.governor.crashed(exc)
            return 0
        self.governor.answered()
        for _ in range(found.pages):
            self.health.page(feed.kind, "ok")
        tracked = await self._track(feed, found)
        await self._store.save_cursor(name, feed.name, found.cursor.dump())
        if found.truncated:
            self.health.truncated[feed.kind] = self.health.truncated.get(feed.kind, 0) + 1
            log.warning(
                "discovery walk stopped at max_pages; older new messages were skipped",
                extra={"account": name, "feed_kind": feed.kind, "pages": found.pages},
            )
        else:
            self.health.last_success[feed.kind] = self._clock()
        return tracked

    async def _track(self, feed: DiscoveryFeed, found: Walk) -> int:
        """Insert the walk's new messages as refs with their first observation; the number new."""
        if not found.new:
            return 0
        now = self._clock()
        account = self.account
        rate = account.settings.sample_rate
        catalogue = self._book.catalogue
        refs: list[NewRef] = []
        for key, message in reversed(found.new):  # oldest first: ids grow with time
            if not sampled_in(account.name, key, rate):
                continue
            observations = message.report.observations
            accepted = next((o.accepted_at for o in observations if o.accepted_at), None)
            submitted = accepted or message.sent_at or now
            due = DueRef(0, key, "", submitted, 0, None, "")
            update, deltas = self.tracker.report(due, message.report, now, source="discovery")
            record = self.tracker.recorder("")
            record.discovered(feed.kind)
            refs.append(
                NewRef(
                    account=account.name,
                    ref_key=key,
                    labels="",
                    submitted_at=submitted,
                    tracked_at=now,
                    next_poll_at=update.next_poll_at,
                    rows=catalogue.rows([*record.deltas, *deltas]),
                    state=update.state,
                    polls=update.polls,
                    last_poll_at=update.last_poll_at,
                    finished_at=update.finished_at,
                    priority=update.priority,
                    in_flight=update.in_flight,
                )
            )
        result = await self._store.insert_refs(refs)
        self._book.add(result.rows)
        new = sum(result.new)
        if new:
            self._wake()
        return new

    async def _wait_unpaused(self) -> None:
        while (remaining := self.governor.paused_for()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(min(remaining, 1.0))

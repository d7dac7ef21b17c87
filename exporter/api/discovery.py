"""The discovery capability: list endpoints that find messages nobody registered.

A discoverer reads one or more *feeds* of an account (a reference key, a
phone number, a cursor feed of failed sends) newest first, page by page. The
host walks each feed back from its newest page until it reaches messages it
has seen before (it keeps where each feed was left in the store), starts
tracking every new message as if an application had registered it
(deduplicated against registered and pushed ones by the ref's key), and
counts the list answer itself as that message's first observation: a busy
feed costs one call per page, not one per message.

A provider declares it with ``discovery = AcmeDiscoverer``; an account
enables it with a ``discovery:`` block validated by the discoverer's
``Settings``::

    class AcmeDiscoverer(Discoverer):
        Settings = AcmeDiscoverySettings

        def feeds(self) -> list[DiscoveryFeed]:
            return [DiscoveryFeed(f"reference:{key}", "reference") for key in ...]

        async def page(self, feed, older):
            body = ...  # GET /list?before=older
            return DiscoveryPage([DiscoveredMessage(ref, report, sent_at), ...], older=...)

Feed names are kept in the store and may be logged: never a phone number in
clear (hash it with :class:`~.fields.NumberHasher`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field

from sms_delivery_exporter.api.durations import Duration
from sms_delivery_exporter.api.http import ProviderHttp
from sms_delivery_exporter.api.reports import RefReport
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel

FEED_KINDS = ("reference", "phone_number", "not_sent")
"""Every feed kind a discoverer may report: the ``feed`` label of discovery metrics."""


class DiscoverySettings(BaseModel):
    """An account's ``discovery:`` block; a discoverer adds its feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    interval: Duration = Field(
        30.0, ge=1, le=3600, description="how often each feed is walked from its newest page"
    )
    max_pages: int = Field(
        50, ge=1, le=10_000, description="pages one walk of a feed reads at most (a backlog cap)"
    )


@dataclass(frozen=True, slots=True)
class DiscoveryFeed:
    """One feed of an account: a name unique in the account (kept in the store), and its kind."""

    name: str
    kind: str
    """One of :data:`FEED_KINDS`."""


@dataclass(slots=True)
class DiscoveredMessage:
    """One message a list answer named."""

    ref: RefModel
    """The ref to track it by, as if an application had registered it."""
    report: RefReport
    """What the list answer says of it: counted like a poll's answer."""
    sent_at: float | None = None
    """The provider's send time (Unix seconds), by which pages are walked back."""


@dataclass(slots=True)
class DiscoveryPage:
    """One page of a feed, newest message first."""

    messages: list[DiscoveredMessage] = field(default_factory=list)
    older: str | None = None
    """The cursor of the next, older page; None when this page was the last.

    A page may overlap the one before it (a list by time whose clock has
    whole seconds: the next page starts again at the oldest second shown, so
    that messages sharing it are not skipped); the host skips repeats."""
    position: str | None = None
    """For a cursor feed (events after an id, oldest first): where to resume next
    time once this page is committed. None for feeds walked back by time."""


class Discoverer(ABC):
    """Reads one account's feeds. Never touches the store or metrics."""

    Settings: ClassVar[type[DiscoverySettings]] = DiscoverySettings
    walks_back: ClassVar[bool] = True
    """True: pages are newest first and the host walks back to what it saw
    (list endpoints). False: a cursor feed, read forward from the stored
    :attr:`DiscoveryPage.position` until a page says there is nothing older."""

    def __init__(
        self, settings: ProviderSettings, discovery: DiscoverySettings, http: ProviderHttp
    ) -> None:
        self.settings = settings
        self.discovery = discovery
        self.http = http

    @abstractmethod
    def feeds(self) -> Sequence[DiscoveryFeed]:
        """The account's feeds; their names never hold a phone number in clear."""

    @abstractmethod
    async def page(self, feed: DiscoveryFeed, older: str | None) -> DiscoveryPage:
        """One page of a feed: the newest when ``older`` is None, else the one it names.

        Raise the same errors as :meth:`Provider.fetch` when the call fails.
        """

"""The discovery capability: list endpoints that find messages nobody registered.

Declared here, implemented by providers in a later version of the API. A
discoverer walks one or more *feeds* (a reference key, a phone number, a
cursor feed of failed sends) newest first, page by page; the host keeps the
cursors in the store, starts tracking each new message (deduplicated against
registered and pushed ones) and counts the list answer itself as an
observation, so a busy feed costs one call per page, not one per message.

A provider declares it with ``discovery = AcmeDiscoverer``; an account
enables it with a ``discovery:`` block validated by the discoverer's ``Settings``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from sms_delivery_exporter.api.http import ProviderHttp
from sms_delivery_exporter.api.reports import RefReport
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel


class DiscoverySettings(BaseModel):
    """An account's ``discovery:`` block; a discoverer adds its feeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    """The cursor of the next, older page; None when this page was the last."""


class Discoverer(ABC):
    """Reads one account's feeds. Never touches the store or metrics."""

    Settings: ClassVar[type[DiscoverySettings]] = DiscoverySettings

    def __init__(
        self, settings: ProviderSettings, discovery: DiscoverySettings, http: ProviderHttp
    ) -> None:
        self.settings = settings
        self.discovery = discovery
        self.http = http

    @abstractmethod
    def feeds(self) -> Sequence[str]:
        """Names of the feeds to walk; never a phone number in clear (hash it)."""

    @abstractmethod
    async def page(self, feed: str, older: str | None) -> DiscoveryPage:
        """One page of a feed: the newest when ``older`` is None, else the one it names."""

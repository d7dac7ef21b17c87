"""Namirial's list endpoints: messages by reference key or phone number, newest first.

``GET /api/messagestatus/reference/{key}`` and ``/phonenumber/{E.164}`` take
``count`` (silently capped at 100) and ``sendDate`` (messages sent before
it). Send times have whole seconds, so a page that ends inside a second is
followed by one that starts again at that second: messages sharing it are
not skipped, and the host drops the repeats. Only more than a page of
messages sent in one second on one key can still be partly missed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any, cast
from urllib.parse import quote

from pydantic import Field, SecretStr, StringConstraints, field_validator, model_validator

from sms_delivery_exporter.api import (
    E164,
    BadResponse,
    DiscoveredMessage,
    Discoverer,
    DiscoveryFeed,
    DiscoveryPage,
    DiscoverySettings,
    NumberHasher,
    ProviderHttp,
    ProviderSettings,
    RefReport,
    parse_iso8601,
)
from sms_delivery_providers.namirial.errors import error_for
from sms_delivery_providers.namirial.message import parse_message
from sms_delivery_providers.namirial.ref import NamirialRef

if TYPE_CHECKING:
    from sms_delivery_providers.namirial.provider import NamirialSettings

PAGE_CAP = 100
"""Namirial answers at most this many messages per call, whatever ``count`` asks."""

ReferenceKey = Annotated[str, StringConstraints(min_length=1, max_length=100, pattern=r"^\S+$")]


class NamirialDiscoverySettings(DiscoverySettings):
    """Reference keys and phone numbers whose messages are tracked without registration."""

    references: tuple[ReferenceKey, ...] = Field(
        (), description="reference keys (reference.key of the send API) to list"
    )
    phone_numbers: tuple[SecretStr, ...] = Field(
        (), description="E.164 numbers to list, each as ${ENV} (never logged nor stored)"
    )
    page_size: int = Field(100, ge=1, le=PAGE_CAP, description="messages asked per page")

    @field_validator("phone_numbers")
    @classmethod
    def _e164(cls, numbers: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for index, number in enumerate(numbers):
            if not re.fullmatch(E164, number.get_secret_value()):
                # Never quote the value: it is personal data.
                raise ValueError(f"entry {index} is not an E.164 number (+ then 7 to 15 digits)")
        return numbers

    @model_validator(mode="after")
    def _some_feed(self) -> NamirialDiscoverySettings:
        if not self.references and not self.phone_numbers:
            raise ValueError("list references or phone_numbers to discover, or remove the block")
        return self


class NamirialDiscoverer(Discoverer):
    """Walks the list endpoints of an account's reference keys and phone numbers."""

    Settings = NamirialDiscoverySettings

    def __init__(
        self, settings: ProviderSettings, discovery: DiscoverySettings, http: ProviderHttp
    ) -> None:
        super().__init__(settings, discovery, http)
        account = cast("NamirialSettings", settings)
        discovery = cast(NamirialDiscoverySettings, discovery)
        self._base = str(account.base_url).rstrip("/")
        self._headers = {
            "X-Api-Key": account.api_key.get_secret_value(),
            "Accept": "application/json",
        }
        self._count = discovery.page_size
        hasher = NumberHasher(b"discovery:" + account.api_key.get_secret_value().encode())
        self._paths: dict[str, str] = {}
        self._feeds: list[DiscoveryFeed] = []
        for key in discovery.references:
            self._add(DiscoveryFeed(f"reference:{key}", "reference"), f"reference/{quote(key)}")
        for secret in discovery.phone_numbers:
            number = secret.get_secret_value()
            feed = DiscoveryFeed(f"phone_number:{hasher(number)}", "phone_number")
            self._add(feed, f"phonenumber/{quote(number)}")

    def _add(self, feed: DiscoveryFeed, path: str) -> None:
        if feed.name not in self._paths:
            self._paths[feed.name] = path
            self._feeds.append(feed)

    def feeds(self) -> Sequence[DiscoveryFeed]:
        return self._feeds

    async def page(self, feed: DiscoveryFeed, older: str | None) -> DiscoveryPage:
        params = {"count": str(self._count)}
        if older is not None:
            params["sendDate"] = older
        response = await self.http.request(
            "GET",
            f"{self._base}/api/messagestatus/{self._paths[feed.name]}",
            params=params,
            headers=self._headers,
        )
        if response.status != 200:
            raise error_for(response)
        body = response.json()
        items = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(items, list):
            raise BadResponse("list answer has no 'messages' list")
        messages = [_discovered(item, index) for index, item in enumerate(items)]
        return DiscoveryPage(messages, older=_older(messages, self._count))


def _discovered(item: Any, index: int) -> DiscoveredMessage:
    message = item.get("message") if isinstance(item, dict) else None
    if not isinstance(message, dict):
        raise BadResponse(f"messages[{index}] has no 'message' object")
    try:
        ref = NamirialRef(id=message.get("id"))
    except ValueError:
        raise BadResponse(f"messages[{index}].id is not a message UUID") from None
    observation = parse_message(message)
    sent_at = parse_iso8601(message.get("providerAcceptanceAt"), "providerAcceptanceAt")
    return DiscoveredMessage(ref, RefReport([observation]), sent_at)


def _older(messages: list[DiscoveredMessage], asked: int) -> str | None:
    """The ``sendDate`` of the next page, or None when this one was the last."""
    times = [m.sent_at for m in messages if m.sent_at is not None]
    if len(messages) < min(asked, PAGE_CAP) or not times:
        return None
    oldest = math.floor(min(times))
    if oldest == math.floor(max(times)):
        # A whole page in one second: going on from inside it would show the same page
        # forever. The rest of that second is skipped (more than a page in one second).
        return _iso(oldest)
    # Again from the oldest second shown: its messages beyond this page are not skipped.
    return _iso(oldest + 1)


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

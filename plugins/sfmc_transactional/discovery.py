"""SFMC's feed of transactional SMS not sent: rejected messages nobody registered.

``GET /messaging/v1/sms/messages/?type=notSent&$pageSize=N&lastEventId=ID``
answers the not-sent events after ``ID``, oldest first, each shaped like a
status answer (``eventCategoryType`` SMSNotSent, ``info {messageKey,
statusCode, statusMessage}``), and ``lastEventID``, where the next call
resumes. The host keeps that position in the store, so a restart neither
skips nor repeats events; each event's messageKey is tracked like a
registered one (a key registered or pushed too is one message, counted once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from pydantic import Field, model_validator

from sms_delivery_exporter.api import (
    BadResponse,
    DiscoveredMessage,
    Discoverer,
    DiscoveryFeed,
    DiscoveryPage,
    DiscoverySettings,
    ProviderHttp,
    ProviderSettings,
    RefReport,
)
from sms_delivery_providers.sfmc.auth import call_error
from sms_delivery_providers.sfmc.client import v2_client
from sms_delivery_providers.sfmc.settings import SfmcSettings
from sms_delivery_providers.sfmc_transactional.message import parse_status
from sms_delivery_providers.sfmc_transactional.ref import SfmcTransactionalRef

NOT_SENT = DiscoveryFeed("not_sent", "not_sent")


class SfmcDiscoverySettings(DiscoverySettings):
    """The not-sent feed of the account's business unit."""

    not_sent: bool = Field(False, description="count messages SFMC did not send, unregistered")
    page_size: int = Field(500, ge=1, le=2500, description="events asked per page ($pageSize)")

    @model_validator(mode="after")
    def _some_feed(self) -> SfmcDiscoverySettings:
        if not self.not_sent:
            raise ValueError("set not_sent: true to read the not-sent feed, or remove the block")
        return self


class SfmcNotSentDiscoverer(Discoverer):
    """Reads the not-sent feed forward from where the host left it."""

    Settings = SfmcDiscoverySettings
    walks_back = False

    def __init__(
        self, settings: ProviderSettings, discovery: DiscoverySettings, http: ProviderHttp
    ) -> None:
        super().__init__(settings, discovery, http)
        self._client = v2_client(http, cast(SfmcSettings, settings))
        self._size = cast(SfmcDiscoverySettings, discovery).page_size

    def feeds(self) -> Sequence[DiscoveryFeed]:
        return [NOT_SENT]

    async def page(self, feed: DiscoveryFeed, older: str | None) -> DiscoveryPage:
        path = f"/messaging/v1/sms/messages/?type=notSent&%24pageSize={self._size}"
        if older is not None:
            path += f"&lastEventId={older}"
        response = await self._client.get(path)
        if response.status != 200:
            raise call_error(response)
        body = response.json()
        events = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(events, list):
            raise BadResponse("notSent answer has no 'messages' list")
        messages = [_discovered(event, index) for index, event in enumerate(events)]
        last = body.get("lastEventID", body.get("lastEventId"))
        if last is not None and type(last) not in (int, str):
            raise BadResponse("lastEventID is neither a number nor a string")
        position = str(last) if last is not None else older
        more = "more" if len(events) >= self._size and position != older else None
        return DiscoveryPage(messages, older=more, position=position)


def _discovered(event: Any, index: int) -> DiscoveredMessage:
    if not isinstance(event, dict):
        raise BadResponse(f"messages[{index}] is not an object")
    info = event.get("info")
    fields = info if isinstance(info, dict) else event
    try:
        ref = SfmcTransactionalRef(message_key=fields.get("messageKey"))
    except ValueError:
        raise BadResponse(f"messages[{index}] has no usable messageKey") from None
    observation = parse_status(event)
    return DiscoveredMessage(ref, RefReport([observation]), observation.changed_at)

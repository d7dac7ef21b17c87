"""SFMC's transactional send API for the canary.

``POST /messaging/v1/sms/messages/{messageKey}`` with an active SMS send
definition's ``definitionKey`` and ``recipient {contactKey, to}``; 202 with
``responses: [{messageKey, errorcode?, message?}]``. A messageKey must be
unique in the business unit over 2 days: each canary takes a fresh one.
This API reports nothing after "sent to the SMS provider", so a canary
that reaches ``sent`` counts as delivered for this provider.
"""

from __future__ import annotations

import uuid
from typing import cast
from urllib.parse import quote

from pydantic import Field

from sms_delivery_exporter.api import (
    BadResponse,
    Canary,
    CanarySendFailed,
    CanarySettings,
    ProviderHttp,
    ProviderSettings,
    RefModel,
)
from sms_delivery_providers.sfmc.client import v2_client
from sms_delivery_providers.sfmc.settings import SfmcSettings
from sms_delivery_providers.sfmc_transactional.ref import SfmcTransactionalRef

SEND_ERRORS = {400: "invalid_request", 403: "auth", 404: "invalid_request", 429: "throttled"}
"""HTTP statuses of the send API and the ``reason`` each is counted by."""
REFUSED = "refused"
"""The send was accepted as a request but refused for its recipient (an ``errorcode``)."""


class SfmcCanarySettings(CanarySettings):
    """The send definition canaries go through."""

    definition_key: str = Field(min_length=1, description="an active SMS send definition's key")
    contact_key: str = Field(
        "sms-delivery-exporter-canary", min_length=1, description="recipient.contactKey"
    )
    key_prefix: str = Field(
        "sms-exporter-canary",
        min_length=1,
        max_length=60,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="start of each canary's messageKey (a random part follows)",
    )


class SfmcTransactionalCanary(Canary):
    """Sends one SMS through the send definition; returns its messageKey."""

    Settings = SfmcCanarySettings
    reasons = frozenset({*SEND_ERRORS.values(), REFUSED})

    def __init__(
        self, settings: ProviderSettings, canary: CanarySettings, http: ProviderHttp
    ) -> None:
        super().__init__(settings, canary, http)
        self._client = v2_client(http, cast(SfmcSettings, settings))

    async def send(self) -> RefModel:
        canary = cast(SfmcCanarySettings, self.canary)
        key = f"{canary.key_prefix}-{uuid.uuid4().hex[:20]}"
        response = await self._client.request(
            "POST",
            f"/messaging/v1/sms/messages/{quote(key, safe='')}",
            {
                "definitionKey": canary.definition_key,
                "recipient": {"contactKey": canary.contact_key, "to": canary.to.get_secret_value()},
                "content": {"message": canary.text},
            },
        )
        if response.status not in (200, 201, 202):
            reason = SEND_ERRORS.get(response.status, "http_error")
            raise CanarySendFailed(reason, f"SFMC's send API answered HTTP {response.status}")
        body = response.json()
        answers = body.get("responses") if isinstance(body, dict) else None
        first = answers[0] if isinstance(answers, list) and answers else None
        if not isinstance(first, dict):
            raise BadResponse("send answer has no 'responses'")
        if first.get("errorcode"):
            raise CanarySendFailed(
                REFUSED, f"SFMC refused the recipient: errorcode {first['errorcode']}"
            )
        return SfmcTransactionalRef(message_key=key)

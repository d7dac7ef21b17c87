"""D7's send API for the canary: ``POST /messages/v1/send`` with the account's bearer token.

Success is ``{"request_id", "status": "accepted", "created_at"}``; D7 documents
errors by HTTP status only (401 token, 402 credit, 422 validation).
"""

from __future__ import annotations

from typing import cast

from pydantic import Field

from sms_delivery_exporter.api import (
    BadResponse,
    Canary,
    CanarySendFailed,
    CanarySettings,
    RefModel,
)
from sms_delivery_providers.d7.ref import D7Ref

SEND_ERRORS: dict[int, str] = {
    401: "auth",
    403: "auth",
    402: "insufficient_credit",
    422: "validation",
    429: "throttled",
}
"""HTTP statuses of the send API and the ``reason`` each is counted by."""


class D7CanarySettings(CanarySettings):
    """The sender name canaries carry."""

    originator: str = Field(
        "SignOTP", min_length=1, max_length=15, description="message_globals.originator"
    )


class D7Canary(Canary):
    """Sends one SMS to the test number with the account's token; returns its request_id."""

    Settings = D7CanarySettings
    reasons = frozenset(SEND_ERRORS.values())

    async def send(self) -> RefModel:
        canary = cast(D7CanarySettings, self.canary)
        token = self.settings.api_token.get_secret_value()  # type: ignore[attr-defined]
        base = str(self.settings.base_url).rstrip("/")  # type: ignore[attr-defined]
        response = await self.http.request(
            "POST",
            f"{base}/messages/v1/send",
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            json_body={
                "messages": [
                    {
                        "channel": "sms",
                        "recipients": [canary.to.get_secret_value()],
                        "content": canary.text,
                        "msg_type": "text",
                        "data_coding": "text",
                    }
                ],
                "message_globals": {"originator": canary.originator},
            },
        )
        if response.status in (200, 201, 202):
            body = response.json()
            try:
                return D7Ref(request_id=body.get("request_id") if isinstance(body, dict) else None)
            except ValueError:
                raise BadResponse("send answer has no request_id") from None
        reason = SEND_ERRORS.get(response.status, "http_error")
        raise CanarySendFailed(reason, f"D7's send API answered HTTP {response.status}")

"""Namirial's send API for the canary: ``POST /api/Services/send`` with HTTP Basic auth.

A credential of its own (not the status API's key). Success is 200 with the
message ``id``; a refusal is HTTP 500 with ``{code, message}``, its code
mapped onto :data:`SEND_ERRORS`.
"""

from __future__ import annotations

import base64
from typing import cast

from pydantic import AnyHttpUrl, Field, SecretStr

from sms_delivery_exporter.api import (
    BadResponse,
    Canary,
    CanarySendFailed,
    CanarySettings,
    RefModel,
)
from sms_delivery_providers.namirial.ref import NamirialRef

SEND_ERRORS: dict[int, str] = {
    8: "wrong_number",
    56: "invalid_number_format",
    59: "invalid_reference",
    60: "anti_flooding",
    61: "watchlist",
    63: "auth",
    64: "provider_unavailable",
    66: "empty_text",
    74: "url_not_allowed",
}
"""Send API error codes (seed 004) and the ``reason`` each is counted by."""


class NamirialCanarySettings(CanarySettings):
    """The send API: its host and Basic credentials, and the reference canaries carry."""

    send_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://sms.namirialtsp.com"), description="send API host (before /api/)"
    )
    username: str = Field(min_length=1, description="send API Basic auth user")
    password: SecretStr = Field(description="send API Basic auth password, as ${ENV}")
    reference_service: str = Field("CANARY", min_length=1, description="reference.service")
    reference_action: str = Field("SEND", min_length=1, description="reference.action")
    reference_key: str = Field(
        "sms-delivery-exporter-canary", min_length=1, description="reference.key"
    )


class NamirialCanary(Canary):
    """Sends one SMS to the test number and returns its id."""

    Settings = NamirialCanarySettings
    reasons = frozenset(SEND_ERRORS.values())

    async def send(self) -> RefModel:
        canary = cast(NamirialCanarySettings, self.canary)
        basic = f"{canary.username}:{canary.password.get_secret_value()}".encode()
        response = await self.http.request(
            "POST",
            f"{str(canary.send_url).rstrip('/')}/api/Services/send",
            headers={"Authorization": "Basic " + base64.b64encode(basic).decode()},
            json_body={
                "destination": canary.to.get_secret_value(),
                "text": canary.text,
                "reference": {
                    "service": canary.reference_service,
                    "action": canary.reference_action,
                    "key": canary.reference_key,
                },
            },
        )
        if response.status == 200:
            body = response.json()
            try:
                return NamirialRef(id=body.get("id") if isinstance(body, dict) else None)
            except ValueError:
                raise BadResponse("send answer has no message 'id'") from None
        if response.status in (401, 403):
            raise CanarySendFailed(
                "auth", f"Namirial refused the send credentials (HTTP {response.status})"
            )
        try:
            body = response.json()
        except BadResponse:
            body = None
        code = body.get("code") if isinstance(body, dict) else None
        if response.status == 500 and type(code) is int:
            reason = SEND_ERRORS.get(code, "other")
            raise CanarySendFailed(reason, f"Namirial refused the send: code {code} ({reason})")
        raise CanarySendFailed("http_error", f"Namirial's send API answered HTTP {response.status}")

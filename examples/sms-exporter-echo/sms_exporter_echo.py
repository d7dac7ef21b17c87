"""An sms-delivery-exporter provider for the Echo SMS status API, in one file.

The API: ``GET {base_url}/v1/messages/{id}`` with ``Authorization: Token <key>``
answers ``{"id", "state", "parts", "error"}``, where ``state`` is one of
``queued``, ``sent``, ``delivered``, ``failed`` and ``error`` names why a
message failed. 404 for an unknown id, 401 for a wrong key, 429 to slow down.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pydantic import Field, SecretStr

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    Observation,
    Provider,
    ProviderSettings,
    RefModel,
    RefNotFound,
    RefReport,
    Status,
    Throttled,
    TransientError,
    count_field,
    hookimpl,
)

STATES = {
    "queued": Status.QUEUED,
    "sent": Status.SENT,
    "delivered": Status.DELIVERED,
    "failed": Status.UNDELIVERED,
}
REASONS = {"number_blocked": "the carrier blocks the number", "absent": "the handset is off"}


class EchoSettings(ProviderSettings):
    """An account block: ``provider: echo``, the API's address and key."""

    base_url: str = Field(description="the Echo API, e.g. https://api.echo.example")
    api_key: SecretStr = Field(description="sent as Authorization: Token <key>")


class EchoRef(RefModel):
    """What an application registers: the id the Echo send API returned."""

    id: str = Field(pattern=r"^[A-Za-z0-9-]{1,64}$")


class EchoProvider(Provider[EchoSettings, EchoRef]):
    name = "echo"
    Settings = EchoSettings
    Ref = EchoRef
    reasons = frozenset(REASONS)

    async def fetch_one(self, ref: EchoRef) -> RefReport:
        answer = await self.http.request(
            "GET",
            f"{self.settings.base_url.rstrip('/')}/v1/messages/{quote(ref.id)}",
            headers={"Authorization": f"Token {self.settings.api_key.get_secret_value()}"},
        )
        if answer.status == 404:
            raise RefNotFound("Echo does not know this id")
        if answer.status == 401:
            raise AuthFailed("Echo refused the API key")
        if answer.status == 429:
            raise Throttled("Echo answered 429", retry_after=answer.retry_after())
        if answer.status != 200:
            raise TransientError(f"Echo answered HTTP {answer.status}")
        return RefReport([observe(answer.json())])


def observe(body: Any) -> Observation:
    """One answer of the status API as an observation."""
    state = body.get("state") if isinstance(body, dict) else None
    if state not in STATES:
        raise BadResponse(f"unknown state {str(state)[:20]!r}")
    error = body.get("error")
    return Observation(
        key="",
        status=STATES[state],
        provider_status=state,
        reason=error if error in REASONS else None,  # anything else is counted as "other"
        segments=count_field(body.get("parts")),
    )


@hookimpl
def register_providers() -> list[type[EchoProvider]]:
    return [EchoProvider]

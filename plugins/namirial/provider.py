"""The Namirial status API: ``GET /api/messagestatus/{messageid}`` with ``X-Api-Key``."""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import quote

from pydantic import AnyHttpUrl, Field, SecretStr

from sms_delivery_exporter.api import (
    BadResponse,
    Probe,
    Provider,
    ProviderHttp,
    ProviderSettings,
    RefNotFound,
    RefReport,
)
from sms_delivery_providers.namirial.canary import NamirialCanary
from sms_delivery_providers.namirial.discovery import NamirialDiscoverer
from sms_delivery_providers.namirial.errors import error_for
from sms_delivery_providers.namirial.message import parse_message
from sms_delivery_providers.namirial.push import NamirialReceiver
from sms_delivery_providers.namirial.reasons import REASONS
from sms_delivery_providers.namirial.ref import NamirialRef

PROBE_REFERENCE = "sms-delivery-exporter-probe"
"""A reference key no application uses: the probe lists its (no) messages."""


class NamirialSettings(ProviderSettings):
    """An account at Namirial."""

    base_url: AnyHttpUrl = Field(
        AnyHttpUrl("https://sms-apistatus.namirialtsp.com"),
        description="status API host (the part before /api/)",
    )
    api_key: SecretStr = Field(description="sent as X-Api-Key")


class NamirialProvider(Provider[NamirialSettings, NamirialRef]):
    """Status by message id; the provider's clocks give the latency."""

    name = "namirial"
    Settings = NamirialSettings
    Ref = NamirialRef
    reasons = frozenset(REASONS)
    channels = ("sms", "rcs")
    read_channels = frozenset({"rcs"})
    reports_segments = True
    batch_size: ClassVar[int] = 1
    push = NamirialReceiver
    discovery = NamirialDiscoverer
    canary = NamirialCanary

    def __init__(self, settings: NamirialSettings, http: ProviderHttp) -> None:
        super().__init__(settings, http)
        self._base = str(settings.base_url).rstrip("/")
        self._headers = {
            "X-Api-Key": settings.api_key.get_secret_value(),
            "Accept": "application/json",
        }

    async def fetch_one(self, ref: NamirialRef) -> RefReport:
        response = await self.http.request(
            "GET", f"{self._base}/api/messagestatus/{quote(ref.id)}", headers=self._headers
        )
        if response.status == 200:
            body = response.json()
            message = body.get("message") if isinstance(body, dict) else None
            if not isinstance(message, dict):
                raise BadResponse("answer has no 'message' object")
            return RefReport([parse_message(message)])
        if response.status == 404:
            raise RefNotFound("Namirial does not know this message id")
        raise error_for(response)

    async def probe(self) -> Probe:
        """The list endpoint for a reference key nobody uses, one message at most."""
        response = await self.http.request(
            "GET",
            f"{self._base}/api/messagestatus/reference/{PROBE_REFERENCE}",
            params={"count": "1"},
            headers=self._headers,
        )
        if response.status != 200:
            raise error_for(response)
        body = response.json()
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
            raise BadResponse("list answer has no 'messages' list")
        return Probe()

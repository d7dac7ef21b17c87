"""``GET /messaging/v1/sms/messages/{messageKey}`` with an OAuth2 bearer token."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field, field_validator

from sms_delivery_exporter.api import (
    FINAL_STATUSES,
    Probe,
    Provider,
    ProviderHttp,
    RefNotFound,
    RefReport,
    Status,
)
from sms_delivery_providers.sfmc.auth import call_error
from sms_delivery_providers.sfmc.client import v2_client
from sms_delivery_providers.sfmc.settings import SfmcSchedule, SfmcSettings
from sms_delivery_providers.sfmc_transactional.canary import SfmcTransactionalCanary
from sms_delivery_providers.sfmc_transactional.discovery import SfmcNotSentDiscoverer
from sms_delivery_providers.sfmc_transactional.message import parse_status
from sms_delivery_providers.sfmc_transactional.push import EnsReceiver
from sms_delivery_providers.sfmc_transactional.reasons import REASONS
from sms_delivery_providers.sfmc_transactional.ref import SfmcTransactionalRef

MAX_WINDOW = 3 * 86400.0
"""The API forgets statuses after 3 days."""


class TransactionalSchedule(SfmcSchedule):
    @field_validator("tracking_window")
    @classmethod
    def _within_retention(cls, window: float) -> float:
        if window > MAX_WINDOW:
            raise ValueError("at most 3d: the API keeps statuses for 3 days")
        return window


class SfmcTransactionalSettings(SfmcSettings):
    """An SFMC business unit sending transactional SMS."""

    schedule: TransactionalSchedule = Field(default_factory=TransactionalSchedule)


class SfmcTransactionalProvider(Provider[SfmcTransactionalSettings, SfmcTransactionalRef]):
    """Status by messageKey; stops at sent."""

    name = "sfmc_transactional"
    Settings = SfmcTransactionalSettings
    Ref = SfmcTransactionalRef
    reasons = frozenset(REASONS)
    final_statuses = FINAL_STATUSES | {Status.SENT}
    statuses = frozenset({Status.QUEUED, Status.SENT, Status.REJECTED})
    push = EnsReceiver
    discovery = SfmcNotSentDiscoverer
    canary = SfmcTransactionalCanary

    def __init__(self, settings: SfmcTransactionalSettings, http: ProviderHttp) -> None:
        super().__init__(settings, http)
        self._client = v2_client(http, settings)

    async def probe(self) -> Probe:
        """A new token from the token endpoint: the credentials still work."""
        await self._client.check_credentials()
        return Probe()

    async def fetch_one(self, ref: SfmcTransactionalRef) -> RefReport:
        response = await self._client.get(
            f"/messaging/v1/sms/messages/{quote(ref.message_key, safe='')}"
        )
        status = response.status
        if status == 200:
            return RefReport([parse_status(response.json())])
        if status in (400, 404):
            # Unknown or older than 3 days (some stacks answer 400 rather than 404).
            raise RefNotFound(f"SFMC does not know this messageKey (HTTP {status})")
        raise call_error(response)

"""The canary capability: send one real message now and then, and track it.

A synthetic canary is the blackbox probe of SMS: every ``interval`` the host
asks the account's canary to send one message to a test number through the
provider's send API, then follows that message until it is final or its
``deadline`` passes, and exports what happened (sent, send errors by reason,
delivered within the deadline, latency). When application traffic is low or
absent it is the only end-to-end signal. Sending costs money: a canary is
off unless the account's ``canary:`` block says ``enabled: true``, and never
sends more often than ``interval`` (at least a minute).

A provider declares it with ``canary = AcmeCanary``::

    class AcmeCanary(Canary):
        Settings = AcmeCanarySettings
        reasons = frozenset({"wrong_number"})

        async def send(self, text: str) -> RefModel:
            answer = await self.http.request("POST", ..., json_body={...})
            if answer.status != 200:
                raise CanarySendFailed("wrong_number", "the provider refused the number")
            return AcmeRef(id=answer.json()["id"])
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sms_delivery_exporter.api.durations import Duration
from sms_delivery_exporter.api.http import ProviderHttp
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel

E164 = r"^\+[1-9]\d{6,14}$"
"""A phone number in E.164 form."""
MIN_INTERVAL = 60.0
"""Seconds between two canaries at least, unless the block says ``allow_fast``."""
GENERIC_SEND_ERRORS = frozenset(
    {"http_error", "auth", "throttled", "timeout", "connection", "bad_response", "other"}
)
"""Send error reasons every canary may report, beside its provider's own."""


class CanarySettings(BaseModel):
    """An account's ``canary:`` block; a provider's canary adds its send API's options."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(False, description="send canary messages (they cost money)")
    to: SecretStr = Field(
        description="the test number, E.164, given as ${ENV} (never logged nor stored)"
    )
    interval: Duration = Field(
        300.0,
        ge=1,
        le=900,
        description="time between two canary sends (at least 1m unless allow_fast; at most"
        " 15m, so that two failed canaries fit the 30-minute window of SMSCanaryFailing)",
    )
    allow_fast: bool = Field(
        False,
        description="allow an interval under 1m (over 1,440 billed SMS a day: tests, drills)",
    )
    deadline: Duration = Field(
        120.0, gt=0, le=3600, description="a canary not delivered by then counts as failed"
    )
    text: str = Field(
        "sms-delivery-exporter canary", min_length=1, max_length=160, description="message text"
    )

    @field_validator("to")
    @classmethod
    def _e164(cls, to: SecretStr) -> SecretStr:
        if not re.fullmatch(E164, to.get_secret_value()):
            # The value itself is never quoted: it is personal data.
            raise ValueError("not an E.164 number (+ then 7 to 15 digits)")
        return to

    @model_validator(mode="after")
    def _rate_capped(self) -> CanarySettings:
        if self.interval < MIN_INTERVAL and not self.allow_fast:
            raise ValueError(
                "interval: under 1m the canary sends over 1,440 billed SMS a day;"
                " set allow_fast: true if that is meant"
            )
        return self


class CanarySendFailed(Exception):
    """The provider refused to send: ``reason`` is one of the canary's ``reasons``
    (or :data:`GENERIC_SEND_ERRORS`); the message names the problem, never the number."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


class Canary(ABC):
    """Sends one account's canary messages. Never touches the store or metrics."""

    Settings: ClassVar[type[CanarySettings]] = CanarySettings
    reasons: ClassVar[frozenset[str]] = frozenset()
    """Every send error reason this canary reports beyond :data:`GENERIC_SEND_ERRORS`."""

    def __init__(
        self, settings: ProviderSettings, canary: CanarySettings, http: ProviderHttp
    ) -> None:
        self.settings = settings
        self.canary = canary
        self.http = http

    @abstractmethod
    async def send(self) -> RefModel:
        """Send one canary message; the ref to track it by.

        Raise :class:`CanarySendFailed` when the provider refused it, or the
        errors of :meth:`Provider.fetch` when the call itself failed.
        """

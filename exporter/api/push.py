"""The push capability: a provider that can verify and read its webhook calls.

Declared here, implemented by providers in a later version of the API. The
split of work: the plugin verifies a call (signature or token) and reads its
body into events; the host stores, deduplicates and counts them, exactly as
it does for polls, so a final status counts once whichever path saw it first.

A provider declares the capability with a class attribute::

    class AcmeProvider(Provider[AcmeSettings, AcmeRef]):
        push = AcmePushReceiver

and an account enables it with a ``push:`` block (validated by the receiver's
``Settings``). The host serves ``POST /api/v1/push/{account}`` for it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from sms_delivery_exporter.api.reports import Observation
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel


class PushSettings(BaseModel):
    """An account's ``push:`` block; a receiver may extend it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    token: SecretStr | None = Field(
        None,
        description="secret the provider's calls carry as ?token= (providers that do not sign)",
    )
    signature_key: SecretStr | None = Field(
        None, description="key of the provider's signature header (providers that sign)"
    )
    track_unregistered: bool = Field(
        False, description="start tracking messages first heard of by push; else count and drop"
    )


@dataclass(frozen=True, slots=True)
class PushRequest:
    """One webhook call as received: the exact body (signatures cover its bytes)."""

    body: bytes
    content_type: str
    headers: Mapping[str, str]
    """Header names are case-insensitive."""
    query: Mapping[str, str]


@dataclass(slots=True)
class PushedEvent:
    """One event of a call: what the provider says of one message of one ref."""

    ref: RefModel
    """The ref as an application would register it (the host finds the tracked one)."""
    observation: Observation
    event_id: str | None = None
    """The provider's id of the event, if it has one: deliveries are at least once."""
    event_time: float | None = None
    """When the provider emitted the event (Unix seconds), for the push delay histogram."""


@dataclass(frozen=True, slots=True)
class PushHandshake:
    """A setup call (SFMC's callback verification): reported to the operator, applies nothing."""

    summary: str
    """Safe to log and to show on the landing page."""
    secret: str | None = None
    """What the operator needs to finish the setup; never logged."""


@dataclass(slots=True)
class PushBatch:
    """What one call carried."""

    events: list[PushedEvent] = field(default_factory=list)
    handshake: PushHandshake | None = None


class PushRefused(Exception):
    """The call is not the provider's (wrong signature or token): 401, nothing applied."""


class PushMalformed(Exception):
    """The body cannot be read: 400 with this message, nothing applied."""


class PushReceiver(ABC):
    """Verifies and reads one account's webhook calls. Never touches the store or metrics."""

    Settings: ClassVar[type[PushSettings]] = PushSettings
    """The account's ``push:`` block."""

    def __init__(self, settings: ProviderSettings, push: PushSettings) -> None:
        self.settings = settings
        self.push = push

    @abstractmethod
    def verify(self, request: PushRequest) -> None:
        """Raise :class:`PushRefused` unless the call provably comes from the provider."""

    @abstractmethod
    def parse(self, request: PushRequest) -> PushBatch:
        """The call's events, or :class:`PushMalformed` naming what is wrong."""

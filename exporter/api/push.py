"""The push capability: a provider that can verify and read its webhook calls.

The split of work: the plugin verifies a call (signature or token) and reads
its body into events; the host stores, deduplicates and counts them, exactly
as it does for polls, so a final status counts once whichever path saw it
first. The host acknowledges a call only once its events are committed to
the store, and applies them after, with the same monotonic rules as polls.

A provider declares the capability with a class attribute::

    class AcmeProvider(Provider[AcmeSettings, AcmeRef]):
        push = AcmePushReceiver

and an account enables it with a ``push:`` block (validated by the receiver's
``Settings``). The host serves ``POST /api/v1/push/{account}`` for it, and
polls the account's refs on the slower ``push.safety_net`` schedule: polling
becomes the safety net that catches a lost webhook.

A receiver for a provider that does not sign its calls subclasses
:class:`TokenReceiver` (the URL carries ``?token=<push.token>``); one that signs
checks the signature in :meth:`PushReceiver.verify` (see :func:`hmac_matches`).
Bodies are read with :func:`push_json` or :func:`push_form`, bounded against abuse.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sms_delivery_exporter.api.durations import Duration
from sms_delivery_exporter.api.push_reading import token_matches
from sms_delivery_exporter.api.reports import Observation
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel
from sms_delivery_exporter.api.statuses import Status

MIN_TOKEN = 16
"""Shortest push token accepted: it is the only proof a call is the provider's."""


class SafetyNetSchedule(BaseModel):
    """When refs of an account with push are polled: the safety net for lost webhooks.

    Replaces the same keys of the account's ``schedule``; its tracking window,
    404 grace and read-receipt window stay.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    first_poll: Duration = Field(300.0, description="delay from registration to the first poll")
    initial_interval: Duration = Field(300.0, gt=0, description="interval after the first poll")
    growth: float = Field(2.0, ge=1.0, le=10.0, description="factor between intervals")
    max_interval: Duration = Field(3600.0, gt=0, description="cap on the interval")

    @model_validator(mode="after")
    def _intervals_fit(self) -> SafetyNetSchedule:
        if self.initial_interval > self.max_interval:
            raise ValueError("initial_interval must not exceed max_interval")
        return self


class PushSettings(BaseModel):
    """An account's ``push:`` block; a receiver extends it (making its credential required)."""

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
    registration_grace: Duration = Field(
        60.0,
        description="how long an event for a message not registered yet waits for its"
        " registration (webhooks can outrun the application's intake call)",
    )
    dedupe_window: Duration = Field(
        6 * 3600.0, gt=0, description="how long an event is remembered to recognise a redelivery"
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="largest call accepted")
    confirm_after: Duration = Field(
        10.0,
        ge=0,
        description="a ref of several messages (a D7 request) all final by webhooks is polled"
        " once this long after, to learn whether it has more messages, and what they cost",
    )
    safety_net: SafetyNetSchedule = Field(default_factory=SafetyNetSchedule)


class TokenPushSettings(PushSettings):
    """The ``push:`` block of a provider that does not sign: the token is required."""

    token: SecretStr = Field(
        description="secret the provider's calls carry as ?token=: long and random"
    )

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr) -> SecretStr:
        if len(token.get_secret_value()) < MIN_TOKEN:
            raise ValueError(
                f"too short: a push token needs {MIN_TOKEN} characters at least"
                " (openssl rand -hex 32 makes a good one)"
            )
        return token


class SignedPushSettings(PushSettings):
    """The ``push:`` block of a provider that signs its calls: the signature key is required."""

    signature_key: SecretStr = Field(description="key of the provider's signature header")


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
    """Its ``changed_at`` is when the status changed (latency); a phone number is never its key."""
    event_id: str | None = None
    """The provider's id of the event, if it has one: deliveries are at least once. Without
    one the host recognises a redelivery by the event's content."""
    event_time: float | None = None
    """When the provider emitted the event (Unix seconds), for the push delay histogram."""


@dataclass(frozen=True, slots=True)
class PushHandshake:
    """A setup call (SFMC's callback verification): reported to the operator, applies nothing."""

    summary: str
    """Safe to log and to show on the landing page."""
    secret: str | None = None
    """What the operator needs to finish the setup; never logged (written to a private file)."""
    reference: str | None = None
    """What the secret goes with (SFMC's callbackId): safe to show, written beside the secret."""


@dataclass(slots=True)
class PushBatch:
    """What one call carried."""

    events: list[PushedEvent] = field(default_factory=list)
    handshake: PushHandshake | None = None


class PushRefused(Exception):
    """The call is not the provider's (wrong signature or token): 401, nothing applied.

    The message is sent back and logged: never quote the signature, the token or the body.
    """


class PushReceiver(ABC):
    """Verifies and reads one account's webhook calls. Never touches the store or metrics."""

    Settings: ClassVar[type[PushSettings]] = PushSettings
    """The account's ``push:`` block."""
    credential: ClassVar[Literal["signature", "token"]] = "signature"
    """What proves a call is the provider's: refused calls count as ``bad_<credential>``."""
    statuses: ClassVar[frozenset[Status]] = frozenset()
    """Canonical statuses the pushed events report beyond the provider's polled ``statuses``."""
    final_statuses: ClassVar[frozenset[Status] | None] = None
    """The account's final statuses when push is on, if not the provider's (an API that stops
    at ``sent`` while its push reports delivery makes ``sent`` open again)."""
    reasons: ClassVar[frozenset[str]] = frozenset()
    """Failure reasons pushed events report beyond the provider's ``reasons``."""

    def __init__(self, settings: ProviderSettings, push: PushSettings) -> None:
        self.settings = settings
        self.push = push

    @abstractmethod
    def verify(self, request: PushRequest) -> None:
        """Raise :class:`PushRefused` unless the call provably comes from the provider.

        A setup call that cannot be signed (SFMC's verification) may pass; :meth:`parse`
        then returns it as a :class:`PushHandshake`, which applies nothing.
        """

    @abstractmethod
    def parse(self, request: PushRequest) -> PushBatch:
        """The call's events, or :class:`PushMalformed` naming what is wrong."""


class TokenReceiver(PushReceiver):
    """A receiver for a provider that does not sign: the URL carries ``?token=<push.token>``."""

    Settings = TokenPushSettings
    credential = "token"

    def verify(self, request: PushRequest) -> None:
        expected = self.push.token
        if expected is None or not token_matches(request.query.get("token"), expected):
            raise PushRefused("missing or wrong token (the URL must end in ?token=<push.token>)")

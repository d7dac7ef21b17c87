"""The plugin API: everything a provider plugin may use, and the only module it imports.

A provider plugin is a distribution that declares an entry point in the
``sms_delivery_exporter`` group and implements one hook, ``register_providers``,
returning :class:`Provider` subclasses. A whole plugin, in one file::

    from pydantic import Field, SecretStr

    from sms_delivery_exporter.api import (
        AuthFailed, Observation, Provider, ProviderSettings, RefModel, RefNotFound,
        RefReport, Status, TransientError, hookimpl,
    )

    class EchoSettings(ProviderSettings):
        base_url: str
        api_key: SecretStr

    class EchoRef(RefModel):
        id: str = Field(pattern=r"^[0-9a-f-]{36}$")

    class EchoProvider(Provider[EchoSettings, EchoRef]):
        name = "echo"
        Settings = EchoSettings
        Ref = EchoRef
        reasons = frozenset({"blocked"})

        async def fetch_one(self, ref: EchoRef) -> RefReport:
            answer = await self.http.request(
                "GET", f"{self.settings.base_url}/status/{ref.id}",
                headers={"Key": self.settings.api_key.get_secret_value()},
            )
            if answer.status == 404:
                raise RefNotFound("echo does not know this id")
            if answer.status in (401, 403):
                raise AuthFailed("echo refused the key")
            if answer.status != 200:
                raise TransientError(f"echo answered HTTP {answer.status}")
            body = answer.json()
            return RefReport([Observation(key="", status=Status(body["status"]),
                                          provider_status=body["status"])])

    @hookimpl
    def register_providers():
        return [EchoProvider]

The host owns everything else: scheduling under the account's rate limit,
the store, counting each message once, metrics. A provider only turns API
answers into :class:`Observation` s and typed errors.

Compatibility: :data:`API_VERSION` is ``major.minor``. A minor version adds
names (1.1: :class:`CallGate`, :class:`Probe`, ``Provider.probe``, ``statuses``,
``reports_segments``, ``reports_cost``, plausibility bounds; 1.2: push implemented:
:class:`TokenReceiver`, :class:`TokenPushSettings`, :class:`SignedPushSettings`,
:class:`SafetyNetSchedule`, ``PushSettings.registration_grace``, ``dedupe_window``,
``max_body_bytes``, ``confirm_after`` and ``safety_net``, ``PushReceiver.credential``, ``statuses``,
``final_statuses`` and ``reasons``, ``PushHandshake.reference``, and the readers
:func:`push_json`, :func:`push_form`, :func:`token_matches`, :func:`hmac_matches`; 1.3:
discovery implemented: :class:`DiscoveryFeed`, :data:`FEED_KINDS`, ``DiscoverySettings.interval``
and ``max_pages``, ``DiscoveryPage.position``, ``Discoverer.walks_back``; and the canary:
``Provider.canary``, :class:`Canary`, :class:`CanarySettings`, :class:`CanarySendFailed`,
:data:`E164`, :data:`MIN_INTERVAL`, :data:`GENERIC_SEND_ERRORS`); a major
version changes or removes them. Depend on the distribution
``sms-delivery-exporter`` with a range that keeps the major version you built
against. Simulators for tests and the demo use :mod:`sms_delivery_exporter.testing`,
which production provider code never imports.
"""

from __future__ import annotations

from sms_delivery_exporter.api.canary import (
    E164,
    GENERIC_SEND_ERRORS,
    MIN_INTERVAL,
    Canary,
    CanarySendFailed,
    CanarySettings,
)
from sms_delivery_exporter.api.discovery import (
    FEED_KINDS,
    DiscoveredMessage,
    Discoverer,
    DiscoveryFeed,
    DiscoveryPage,
    DiscoverySettings,
)
from sms_delivery_exporter.api.durations import Duration, format_duration, parse_duration
from sms_delivery_exporter.api.errors import (
    AuthFailed,
    BadResponse,
    ErrorKind,
    PaymentRequired,
    ProviderError,
    RefInvalid,
    RefNotFound,
    Throttled,
    TransientError,
)
from sms_delivery_exporter.api.fields import (
    MAX_MESSAGE_COST,
    MAX_RECIPIENTS,
    MAX_SEGMENTS,
    NumberHasher,
    amount_field,
    count_field,
    iso8601_seconds,
    parse_iso8601,
    plausible,
    segments_field,
)
from sms_delivery_exporter.api.hooks import PROJECT_NAME, hookimpl
from sms_delivery_exporter.api.http import (
    CallGate,
    CallObserver,
    HttpResponse,
    Pacer,
    ProviderHttp,
)
from sms_delivery_exporter.api.provider import AnyProvider, Provider, ProviderClass
from sms_delivery_exporter.api.push import (
    PushBatch,
    PushedEvent,
    PushHandshake,
    PushReceiver,
    PushRefused,
    PushRequest,
    PushSettings,
    SafetyNetSchedule,
    SignedPushSettings,
    TokenPushSettings,
    TokenReceiver,
)
from sms_delivery_exporter.api.push_reading import (
    PushMalformed,
    hmac_matches,
    push_form,
    push_json,
    token_matches,
)
from sms_delivery_exporter.api.reports import Observation, Probe, RefOutcome, RefReport
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel, ScheduleSettings
from sms_delivery_exporter.api.statuses import (
    FAILURE_STATUSES,
    FINAL_STATUSES,
    OPEN_STATUSES,
    OTHER,
    Status,
)

API_VERSION = "1.3"
"""``major.minor`` of this API (see the module docstring)."""

__all__ = [
    "API_VERSION",
    "E164",
    "FAILURE_STATUSES",
    "FEED_KINDS",
    "FINAL_STATUSES",
    "GENERIC_SEND_ERRORS",
    "MAX_MESSAGE_COST",
    "MAX_RECIPIENTS",
    "MAX_SEGMENTS",
    "MIN_INTERVAL",
    "OPEN_STATUSES",
    "OTHER",
    "PROJECT_NAME",
    "AnyProvider",
    "AuthFailed",
    "BadResponse",
    "CallGate",
    "CallObserver",
    "Canary",
    "CanarySendFailed",
    "CanarySettings",
    "DiscoveredMessage",
    "Discoverer",
    "DiscoveryFeed",
    "DiscoveryPage",
    "DiscoverySettings",
    "Duration",
    "ErrorKind",
    "HttpResponse",
    "NumberHasher",
    "Observation",
    "Pacer",
    "PaymentRequired",
    "Probe",
    "Provider",
    "ProviderClass",
    "ProviderError",
    "ProviderHttp",
    "ProviderSettings",
    "PushBatch",
    "PushHandshake",
    "PushMalformed",
    "PushReceiver",
    "PushRefused",
    "PushRequest",
    "PushSettings",
    "PushedEvent",
    "RefInvalid",
    "RefModel",
    "RefNotFound",
    "RefOutcome",
    "RefReport",
    "SafetyNetSchedule",
    "ScheduleSettings",
    "SignedPushSettings",
    "Status",
    "Throttled",
    "TokenPushSettings",
    "TokenReceiver",
    "TransientError",
    "amount_field",
    "count_field",
    "format_duration",
    "hmac_matches",
    "hookimpl",
    "iso8601_seconds",
    "parse_duration",
    "parse_iso8601",
    "plausible",
    "push_form",
    "push_json",
    "segments_field",
    "token_matches",
]

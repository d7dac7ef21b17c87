"""The validated config: the store, the intake API, and the accounts to poll."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from sms_delivery_exporter.api import (
    CanarySettings,
    DiscoverySettings,
    Duration,
    ProviderClass,
    ProviderSettings,
    PushReceiver,
    PushSettings,
    ScheduleSettings,
    Status,
)
from sms_delivery_exporter.config.database_url import DatabaseUrl, parse_database_url

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
DEFAULT_LABEL_VALUE_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}"
"""Application label values, unless ``intake.labels.patterns`` says otherwise for a key."""
ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
RESERVED_LABELS = frozenset(
    {
        "provider",
        "account",
        "channel",
        "status",
        "reason",
        "currency",
        "code",
        "result",
        "version",
        "kind",
        "le",
        "job",
        "instance",
    }
)


class StoreConfig(BaseModel):
    """Where tracking state lives: a SQLite file (``path``), or a PostgreSQL shared by replicas."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(Path("sms-delivery-exporter.db"), description="SQLite file")
    url: SecretStr | None = Field(
        None,
        description="postgresql://user:${PGPASSWORD}@host:5432/database: PostgreSQL mode,"
        " where several exporter replicas share the store",
    )
    lease: Duration = Field(
        30.0,
        ge=1,
        le=3600,
        description="PostgreSQL mode: how long a replica holds due refs it took (and the"
        " leadership of the shared series) without reporting; a dead replica's refs are"
        " polled by the others after at most this",
    )
    max_connections: int = Field(
        10, ge=2, le=200, description="PostgreSQL mode: connections of each replica at most"
    )
    retention: Duration = Field(
        7 * 86400.0, gt=0, description="how long refs are kept after they are finished"
    )
    synchronous: Literal["full", "normal"] = Field(
        "full", description="full: a commit survives power loss; normal: only a process crash"
    )
    check_interval: Duration = Field(
        5.0, gt=0, description="how often the file is looked at and a one-row write probed"
    )
    integrity_check_interval: Duration = Field(
        600.0, gt=0, description="how often SQLite's quick integrity check runs"
    )

    @field_validator("url")
    @classmethod
    def _postgresql_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None:
            parse_database_url(url.get_secret_value())  # ValueError never quotes the URL
        return url

    @model_validator(mode="after")
    def _one_store(self) -> StoreConfig:
        if self.url is not None and "path" in self.model_fields_set:
            raise ValueError("path and url name two different stores: keep one")
        return self

    @property
    def database(self) -> DatabaseUrl | None:
        """The PostgreSQL store's URL, checked; None in SQLite mode."""
        return None if self.url is None else parse_database_url(self.url.get_secret_value())


class LabelsConfig(BaseModel):
    """Application labels accepted at intake and carried by the outcome metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: tuple[str, ...] = ()
    max_values_per_key: int = Field(20, ge=1, le=1000)
    patterns: dict[str, str] = Field(
        default_factory=dict,
        description="per key, a regular expression its values must match whole"
        f" (default {DEFAULT_LABEL_VALUE_PATTERN})",
    )

    @model_validator(mode="after")
    def _patterns_of_keys(self) -> LabelsConfig:
        for key, pattern in self.patterns.items():
            if key not in self.keys:
                raise ValueError(f"patterns.{key}: not one of the label keys")
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"patterns.{key}: not a regular expression: {exc}") from None
        return self

    def pattern(self, key: str) -> str:
        return self.patterns.get(key, DEFAULT_LABEL_VALUE_PATTERN)

    @field_validator("keys")
    @classmethod
    def _label_names(cls, keys: tuple[str, ...]) -> tuple[str, ...]:
        for key in keys:
            if not LABEL_NAME.match(key) or key.startswith("__"):
                raise ValueError(f"{key!r} is not a valid Prometheus label name")
            if key in RESERVED_LABELS:
                raise ValueError(f"{key!r} is used by the exporter's own metrics")
        if len(set(keys)) != len(keys):
            raise ValueError("label keys repeat")
        return keys


class IntakeConfig(BaseModel):
    """``POST /api/v1/messages``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    auth: Literal["token", "none"] = Field(
        "token", description="none allows an open intake on a non-loopback address"
    )
    token: SecretStr | None = Field(None, description="bearer token applications send")
    require_tls: bool = Field(
        True,
        description="false allows a token (the intake's, or a push token in a webhook URL)"
        " over plain HTTP on a non-loopback address",
    )
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
    max_items: int = Field(10_000, ge=1, le=1_000_000, description="items per request")
    read_timeout: Duration = Field(
        30.0, gt=0, description="time a client has to send a whole request body"
    )
    labels: LabelsConfig = LabelsConfig()

    @field_validator("token")
    @classmethod
    def _token_not_blank(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and not token.get_secret_value().strip():
            raise ValueError("token is empty: set it, or remove the key")
        return token


class Document(BaseModel):
    """The top level, with accounts still raw until their providers validate them."""

    model_config = ConfigDict(extra="forbid")

    store: StoreConfig = StoreConfig()
    intake: IntakeConfig = IntakeConfig()
    accounts: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Account:
    """One configured account: its name, its provider class, its validated settings.

    With a ``push:`` block the account's shape changes: its receiver may report
    statuses and reasons the polled API cannot (and so make ``sent`` open again),
    and polling runs on the slower safety-net schedule. The host reads these
    properties, never the provider's class attributes, wherever an account's
    statuses, reasons or schedule matter.
    """

    name: str
    provider: ProviderClass
    settings: ProviderSettings
    push: PushSettings | None = None
    """The ``push:`` block, when the account receives its provider's webhooks."""

    @property
    def receiver(self) -> type[PushReceiver] | None:
        """The provider's push receiver, when this account has push on."""
        return self.provider.push if self.push is not None else None

    @cached_property
    def final_statuses(self) -> frozenset[Status]:
        receiver = self.receiver
        if receiver is not None and receiver.final_statuses is not None:
            return receiver.final_statuses
        return self.provider.final_statuses

    @property
    def statuses(self) -> frozenset[Status]:
        receiver = self.receiver
        extra = receiver.statuses if receiver is not None else frozenset()
        return self.provider.statuses | extra

    @property
    def reasons(self) -> frozenset[str]:
        receiver = self.receiver
        extra = receiver.reasons if receiver is not None else frozenset()
        return self.provider.reasons | extra

    @property
    def poll_ends_at(self) -> frozenset[Status]:
        """Statuses after which polling learns nothing more while push still may.

        sfmc_transactional's ``sent`` with push on: final for the polled API,
        open for the account. Such a message is polled again only when its
        tracking window closes.
        """
        return self.provider.final_statuses - self.final_statuses

    @cached_property  # read per registered ref
    def schedule(self) -> ScheduleSettings:
        """The polling schedule: the account's, or with push on its slower safety net."""
        schedule = self.settings.schedule
        if self.push is None:
            return schedule
        net = self.push.safety_net
        # Attributes, not model_dump(): durations dump as their text ("5m").
        return schedule.model_copy(
            update={key: getattr(net, key) for key in type(net).model_fields}
        )

    discovery: DiscoverySettings | None = None
    """The ``discovery:`` block: feeds whose messages are tracked without registration."""
    canary: CanarySettings | None = None
    """The ``canary:`` block (sends only when it says ``enabled: true``)."""

    @property
    def canary_on(self) -> bool:
        """The account sends canaries (a block alone, not enabled, sends nothing)."""
        return self.canary is not None and self.canary.enabled


@dataclass(frozen=True)
class Config:
    store: StoreConfig
    intake: IntakeConfig
    accounts: Mapping[str, Account]

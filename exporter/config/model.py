"""The validated config: the store, the intake API, and the accounts to poll."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from sms_delivery_exporter.api import Duration, ProviderClass, ProviderSettings

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
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
    """Where tracking state lives."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: Path = Field(Path("sms-delivery-exporter.db"), description="SQLite file")
    retention: Duration = Field(
        7 * 86400.0, gt=0, description="how long refs are kept after they are finished"
    )
    synchronous: Literal["full", "normal"] = Field(
        "full", description="full: a commit survives power loss; normal: only a process crash"
    )


class LabelsConfig(BaseModel):
    """Application labels accepted at intake and carried by the outcome metrics."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: tuple[str, ...] = ()
    max_values_per_key: int = Field(20, ge=1, le=1000)

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
    max_body_bytes: int = Field(16 * 1024 * 1024, ge=1024)
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
    """One configured account: its name, its provider class, its validated settings."""

    name: str
    provider: ProviderClass
    settings: ProviderSettings


@dataclass(frozen=True)
class Config:
    store: StoreConfig
    intake: IntakeConfig
    accounts: Mapping[str, Account]

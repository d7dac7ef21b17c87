"""The YAML config: the store, the intake API, and the accounts to poll.

Every account block is validated against the ``Settings`` model of the
provider it names, so a typo in a provider option is caught at start with its
key path (``accounts.eu.api_key: field required``). Values may reference the
environment as ``${NAME}`` (``$$`` is a literal dollar), which is how secrets
stay out of the file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from sms_delivery_exporter.durations import Duration
from sms_delivery_exporter.plugin_manager import describe
from sms_delivery_exporter.provider import ProviderClass, ProviderSettings

_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ACCOUNT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
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


class ConfigError(Exception):
    """The config is unusable; ``problems`` holds one ``key.path: what is wrong`` per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


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
            if not _LABEL_NAME.match(key) or key.startswith("__"):
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


class _Document(BaseModel):
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


def load_config(
    path: Path,
    providers: Mapping[str, ProviderClass],
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Read, expand and validate a config file; :class:`ConfigError` lists every mistake."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read the config file: {exc.strerror}"]) from None
    return parse_config(text, providers, environ if environ is not None else os.environ)


def parse_config(
    text: str, providers: Mapping[str, ProviderClass], environ: Mapping[str, str]
) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError([f"{where}{problem}"]) from None
    if not isinstance(raw, dict):
        raise ConfigError(["the config must be a mapping with an 'accounts:' key"])
    problems: list[str] = []
    expanded = _expand(raw, (), environ, problems)
    unset = {problem.split(":", 1)[0] for problem in problems}
    validation: list[str] = []
    try:
        document = _Document.model_validate(expanded)
    except ValidationError as exc:
        validation = format_validation_error(exc)
        raise ConfigError(problems + _beyond(unset, validation)) from None
    accounts: dict[str, Account] = {}
    if not document.accounts:
        validation.append("accounts: at least one account is needed")
    for name, block in document.accounts.items():
        account = _validate_account(name, block, providers, validation)
        if account is not None:
            accounts[name] = account
    if problems or validation:
        raise ConfigError(problems + _beyond(unset, validation))
    return Config(store=document.store, intake=document.intake, accounts=accounts)


def _beyond(unset: set[str], lines: list[str]) -> list[str]:
    """Drop errors about values that are wrong only because their variable is unset."""
    return [line for line in lines if line.split(":", 1)[0] not in unset]


def _validate_account(
    name: str, block: Any, providers: Mapping[str, ProviderClass], problems: list[str]
) -> Account | None:
    where = f"accounts.{name}"
    if not _ACCOUNT_NAME.match(name):
        problems.append(f"{where}: account names are 1-64 letters, digits, '.', '_' or '-'")
        return None
    if not isinstance(block, dict):
        problems.append(f"{where}: expected a mapping with a 'provider:' key")
        return None
    provider_name = block.get("provider")
    if provider_name is None:
        problems.append(f"{where}.provider: field required (one of: {describe(providers)})")
        return None
    provider = providers.get(str(provider_name))
    if provider is None:
        problems.append(
            f"{where}.provider: no plugin supplies provider {provider_name!r}; "
            f"known providers: {describe(providers)}"
        )
        return None
    try:
        settings = provider.Settings.model_validate(block)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, prefix=(("accounts", name))))
        return None
    return Account(name=name, provider=provider, settings=settings)


def format_validation_error(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    """``key.path: message`` lines, never echoing the input (it may be a secret)."""
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(part) for part in (*prefix, *error["loc"]))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown option (check its spelling and indentation)"
        lines.append(f"{path}: {message}" if path else message)
    return lines


def _expand(
    node: Any, path: tuple[str, ...], environ: Mapping[str, str], problems: list[str]
) -> Any:
    if isinstance(node, dict):
        return {
            key: _expand(value, (*path, str(key)), environ, problems) for key, value in node.items()
        }
    if isinstance(node, list):
        return [_expand(value, (*path, str(i)), environ, problems) for i, value in enumerate(node)]
    if not isinstance(node, str) or "$" not in node:
        return node

    def substitute(match: re.Match[str]) -> str:
        variable = match.group(1)
        if variable is None:
            return "$"
        if variable not in environ:
            problems.append(f"{'.'.join(path)}: environment variable {variable} is not set")
            return ""
        return environ[variable]

    return _ENV_REFERENCE.sub(substitute, node)

"""Reading the YAML config: ``${ENV}`` references expanded, every account validated.

Every account block is validated against the ``Settings`` model of the
provider it names, so a typo in a provider option is caught at start with its
key path (``accounts.eu.api_key: field required``). Values may reference the
environment as ``${NAME}`` (``$$`` is a literal dollar), which is how secrets
stay out of the file. Every problem is reported at once, never the input.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from sms_delivery_exporter.api import ProviderClass, PushSettings
from sms_delivery_exporter.config.capabilities import (
    MISSING,
    canary_settings,
    capability_block,
    discovery_settings,
)
from sms_delivery_exporter.config.errors import ConfigError, format_validation_error
from sms_delivery_exporter.config.model import ACCOUNT_NAME, Account, Config, Document

_ENV_REFERENCE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


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
        document = Document.model_validate(expanded)
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
    if not ACCOUNT_NAME.match(name):
        problems.append(f"{where}: account names are 1-64 letters, digits, '.', '_' or '-'")
        return None
    if not isinstance(block, dict):
        problems.append(f"{where}: expected a mapping with a 'provider:' key")
        return None
    provider_name = block.get("provider")
    if provider_name is None:
        problems.append(f"{where}.provider: field required (one of: {known_providers(providers)})")
        return None
    provider = providers.get(str(provider_name))
    if provider is None:
        problems.append(
            f"{where}.provider: no plugin supplies provider {provider_name!r}; "
            f"known providers: {known_providers(providers)}"
        )
        return None
    block = dict(block)
    push_block = block.pop("push", None)
    push = _validate_push(name, provider, push_block, problems)
    before = len(problems)
    discovery = discovery_settings(
        capability_block(name, provider, "discovery", block.pop("discovery", MISSING), problems)
    )
    canary = canary_settings(
        capability_block(name, provider, "canary", block.pop("canary", MISSING), problems)
    )
    try:
        settings = provider.Settings.model_validate(block)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, prefix=(("accounts", name))))
        return None
    if (push_block is not None and push is None) or len(problems) > before:
        return None
    if push is not None and push.safety_net.first_poll >= settings.schedule.tracking_window:
        problems.append(
            f"{where}.push.safety_net.first_poll: must be shorter than schedule.tracking_window,"
            " or refs would expire before the safety net ever polls them"
        )
        return None
    return Account(
        name=name,
        provider=provider,
        settings=settings,
        push=push,
        discovery=discovery,
        canary=canary,
    )


def _validate_push(
    name: str, provider: ProviderClass, block: Any, problems: list[str]
) -> PushSettings | None:
    """The account's ``push:`` block, validated by its provider's receiver."""
    where = f"accounts.{name}"
    if block is None:
        return None
    if provider.push is None:
        problems.append(
            f"{where}.push: provider {provider.name!r} cannot receive webhooks (no push"
            " capability); remove the block"
        )
        return None
    if not isinstance(block, dict):
        problems.append(f"{where}.push: expected a mapping (token or signature_key, ...)")
        return None
    try:
        return provider.push.Settings.model_validate(block)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, prefix=("accounts", name, "push")))
        return None


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


def known_providers(providers: Mapping[str, ProviderClass]) -> str:
    """``d7, namirial``: the known names, for error messages."""
    return ", ".join(sorted(providers)) or "(none)"

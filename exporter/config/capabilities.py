"""An account's blocks for optional provider capabilities (``discovery:``, ``canary:``).

Each block is validated by the model its provider's capability declares; a
block for a capability the provider lacks is refused, naming the provider.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ValidationError

from sms_delivery_exporter.api import CanarySettings, DiscoverySettings, ProviderClass
from sms_delivery_exporter.config.errors import format_validation_error

MISSING = object()
"""A block the account does not have."""


def capability_block(
    account: str, provider: ProviderClass, key: str, block: Any, problems: list[str]
) -> BaseModel | None:
    """The account's ``key:`` block validated by its provider's capability, or None.

    None with nothing added to ``problems`` means the account has no such block.
    """
    if block is MISSING:
        return None
    where = f"accounts.{account}.{key}"
    capability = getattr(provider, key, None)
    if capability is None:
        problems.append(
            f"{where}: provider {provider.name!r} has no {key} capability; remove the block"
        )
        return None
    if not isinstance(block, dict):
        problems.append(f"{where}: expected a mapping")
        return None
    try:
        settings: BaseModel = capability.Settings.model_validate(block)
    except ValidationError as exc:
        problems.extend(format_validation_error(exc, prefix=("accounts", account, key)))
        return None
    return settings


def discovery_settings(settings: BaseModel | None) -> DiscoverySettings | None:
    return settings if isinstance(settings, DiscoverySettings) else None


def canary_settings(settings: BaseModel | None) -> CanarySettings | None:
    return settings if isinstance(settings, CanarySettings) else None

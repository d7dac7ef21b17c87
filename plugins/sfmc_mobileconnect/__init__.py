"""Salesforce Marketing Cloud MobileConnect deliveries (seeds 001, 003): ``sfmc_mobileconnect``.

Ref: ``{"account": "...", "message_id": "MzA6Nzg6MA", "token_id": "..."}``, one
MessageContact send; each recipient in its ``tracking[]`` is one message.
``legacy: true`` serves the ExactTarget host of seed 003.
"""

from __future__ import annotations

from collections.abc import Sequence

from sms_delivery_exporter.api import ProviderClass, hookimpl
from sms_delivery_providers.sfmc_mobileconnect.provider import MobileConnectProvider


@hookimpl
def register_providers() -> Sequence[ProviderClass]:
    return [MobileConnectProvider]

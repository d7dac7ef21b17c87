"""The ``message`` object of every Namirial status answer and webhook, as an observation."""

from __future__ import annotations

from typing import Any

from sms_delivery_exporter.api import (
    BadResponse,
    Observation,
    Status,
    parse_iso8601,
    segments_field,
)
from sms_delivery_providers.namirial.reasons import reason_for

STATUSES: dict[str, Status] = {
    "PROVIDER_ACCEPTANCE": Status.QUEUED,
    "SENT": Status.SENT,
    "DELIVERED": Status.DELIVERED,
    "UNDELIVERED": Status.UNDELIVERED,
    "REJECTED": Status.REJECTED,
    "READ": Status.DELIVERED,  # plus a read event
}
CHANNELS = {"SMS": "sms", "RCS": "rcs"}


def parse_message(message: dict[str, Any]) -> Observation:
    """One ``message`` object of any Namirial status answer (or webhook)."""
    raw_status = message.get("status")
    status = STATUSES.get(raw_status) if isinstance(raw_status, str) else None
    if status is None:
        raise BadResponse(f"unknown message status {str(raw_status)[:40]!r}")
    provider = message.get("provider")
    provider = provider if isinstance(provider, dict) else {}
    code = _text(provider.get("code"))
    reason = None
    if status in (Status.UNDELIVERED, Status.REJECTED):
        reason = reason_for(_text(provider.get("message")), _text(provider.get("status")), code)
    sms = message.get("sms")
    segments = sms.get("segments") if isinstance(sms, dict) else None
    channel = message.get("channel")
    return Observation(
        key="",
        status=status,
        provider_status=raw_status if isinstance(raw_status, str) else "",
        code=code,
        reason=reason,
        accepted_at=parse_iso8601(message.get("providerAcceptanceAt"), "providerAcceptanceAt"),
        changed_at=parse_iso8601(message.get("statusChangedAt"), "statusChangedAt"),
        channel=CHANNELS.get(channel, "other") if isinstance(channel, str) else "sms",
        segments=segments_field(segments, "sms.segments"),
        read=raw_status == "READ",
    )


def _text(value: object) -> str | None:
    if value is None:
        return None
    return str(value)[:200]

"""What a transactional SMS status answer says (an event of the not-sent feed has its shape)."""

from __future__ import annotations

from typing import Any

from sms_delivery_exporter.api import BadResponse, Observation, Status
from sms_delivery_providers.sfmc.timestamps import parse_cst
from sms_delivery_providers.sfmc_transactional.reasons import reason_for

EVENTS: dict[str, Status] = {
    "SMSQueued": Status.QUEUED,
    "SMSSent": Status.SENT,
    "SMSNotSent": Status.REJECTED,
}


def parse_status(body: Any) -> Observation:
    """A status answer, ``info`` nested (real answers) or its fields at top level (the seed)."""
    if not isinstance(body, dict):
        raise BadResponse("status answer is not a JSON object")
    event = body.get("eventCategoryType")
    name = event.rsplit(".", 1)[-1] if isinstance(event, str) else None
    status = EVENTS.get(name) if name else None
    if status is None:
        raise BadResponse(f"unknown eventCategoryType {str(event)[:60]!r}")
    info = body.get("info")
    fields = info if isinstance(info, dict) else body
    code = fields.get("statusCode", body.get("statusCode"))
    message = fields.get("statusMessage", body.get("statusMessage"))
    code_text = None if code is None else str(code)[:20]
    return Observation(
        key="",
        status=status,
        provider_status=name or "",
        code=code_text,
        reason=reason_for(code_text, str(message)) if status is Status.REJECTED else None,
        changed_at=parse_cst(body.get("timestamp"), "timestamp"),
    )

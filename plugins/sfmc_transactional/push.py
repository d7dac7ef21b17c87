"""SFMC's Event Notification Service (ENS): transactional SMS events posted to a callback.

ENS posts JSON arrays of events (at most 1,000), each signed as a whole:
``x-sfmc-ens-signature`` is base64(HMAC-SHA256(signature key as UTF-8, body)).
It tells what the status API cannot: delivery (``SmsDelivered``, standard
code 4000) and bounces (``SmsBounced``, 45xx), so with push on ``sent`` is
no longer final for the account. After a callback is created ENS posts one
unsigned verification body, ``{"callbackId", "verificationKey"}``, which the
operator sends back to ``/platform/v1/ens-verify``.

The vendor's own samples are malformed: ``Info`` capitalised, numbers as
strings, a delivery labelled ``SmsTransient``. Keys are read whatever their
case, numbers as numbers or numeric strings, and a standard code outranks the
event's type. Events of other kinds (email, push) are left out.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sms_delivery_exporter.api import (
    FINAL_STATUSES,
    Observation,
    PushBatch,
    PushedEvent,
    PushHandshake,
    PushMalformed,
    PushReceiver,
    PushRefused,
    PushRequest,
    Status,
    hmac_matches,
    push_json,
)
from sms_delivery_providers.sfmc.standard_codes import CODES, classify
from sms_delivery_providers.sfmc_transactional.reasons import reason_for
from sms_delivery_providers.sfmc_transactional.ref import SfmcTransactionalRef

SIGNATURE_HEADER = "x-sfmc-ens-signature"
MAX_EVENTS = 10_000
"""ENS sends at most 1,000 events per call; a body with more is not ENS's."""
TYPES: dict[str, Status] = {
    "smssent": Status.SENT,
    "smstransient": Status.SENT,
    "smsdelivered": Status.DELIVERED,
    "smsbounced": Status.UNDELIVERED,
    "smsnotsent": Status.REJECTED,
}
STANDARD_REASONS = frozenset(reason for _, reason in CODES.values() if reason)
"""Reasons of the standard codes ENS events carry (bounces above all)."""


class EnsReceiver(PushReceiver):
    """Verifies ENS calls by their signature and reads their SMS events.

    ``push.signature_key`` may be left out while the callback is being created:
    ENS posts its (unsigned) verification call during the creation, before the
    operator has the key it returns. Until the key is set every event is refused.
    """

    credential = "signature"
    statuses = frozenset({Status.SENT, Status.DELIVERED, Status.UNDELIVERED, Status.REJECTED})
    final_statuses = FINAL_STATUSES  # sent is open again: ENS tells what came after it
    reasons = STANDARD_REASONS

    def verify(self, request: PushRequest) -> None:
        signature = request.headers.get(SIGNATURE_HEADER)
        if signature is None and verification(request.body) is not None:
            return  # the one call ENS cannot sign: it applies nothing
        key = self.push.signature_key
        if key is None:
            raise PushRefused(
                "push.signature_key is not set: set it to the callback's signatureKey and restart"
            )
        if not hmac_matches(key, request.body, signature):
            raise PushRefused(
                f"missing or wrong {SIGNATURE_HEADER} (base64 HMAC-SHA256 of the body with"
                " push.signature_key)"
            )

    def parse(self, request: PushRequest) -> PushBatch:
        found = verification(request.body)
        if found is not None:
            callback_id, key = found
            return PushBatch(
                handshake=PushHandshake(
                    summary=f"ENS callback verification for callback {callback_id[:64]}",
                    secret=key,
                    reference=callback_id,
                )
            )
        body = push_json(request.body)
        if not isinstance(body, list):
            raise PushMalformed("ENS posts a JSON array of events")
        if len(body) > MAX_EVENTS:
            raise PushMalformed(f"more than {MAX_EVENTS} events in one call")
        events = [event for index, item in enumerate(body) if (event := _event(index, item))]
        return PushBatch(events=events)


def verification(body: bytes) -> tuple[str, str] | None:
    """(callbackId, verificationKey) of an ENS verification body, else None."""
    if len(body) > 4096 or not body.lstrip().startswith(b"{"):
        return None
    try:
        value = push_json(body)
    except PushMalformed:
        return None
    fields = _folded(value)
    callback, key = fields.get("callbackid"), fields.get("verificationkey")
    if len(fields) != 2 or not isinstance(callback, str) or not isinstance(key, str):
        return None
    return (callback, key) if callback and key else None


def _event(index: int, item: Any) -> PushedEvent | None:
    """One ENS event, or None for an event that is not about a transactional SMS."""
    if not isinstance(item, dict):
        raise PushMalformed(f"event {index} is not a JSON object")
    fields = _folded(item)
    kind = fields.get("eventcategorytype")
    kind_name = kind.rsplit(".", 1)[-1] if isinstance(kind, str) else ""
    name = kind_name.lower()
    if name not in TYPES:
        return None
    info = _folded(fields.get("info"))
    key = info.get("messagekey")
    if not isinstance(key, str) or not key:
        raise PushMalformed(f"event {index} has no info.messageKey")
    try:
        ref = SfmcTransactionalRef(message_key=key)
    except ValidationError:
        raise PushMalformed(f"event {index}: info.messageKey is not a messageKey") from None
    code = _number(info.get("statuscode"))
    status, reason = _status(name, code, info)
    stamp = _number(fields.get("timestamputc"))
    when = stamp / 1000 if stamp is not None and 0 < stamp < 10**14 else None
    observation = Observation(
        key="",
        status=status,
        provider_status=kind_name[:40],
        code=None if code is None else str(code),
        reason=reason,
        changed_at=when,
    )
    return PushedEvent(ref=ref, observation=observation, event_time=when)


def _status(name: str, code: int | None, info: dict[str, Any]) -> tuple[Status, str | None]:
    """A standard code outranks the type (a vendor sample labels a delivery SmsTransient)."""
    if code is not None and code >= 1000:
        status, reason = classify(code)
        if status is Status.QUEUED:
            status = TYPES[name]
        return status, reason
    status = TYPES[name]
    if status is Status.REJECTED:
        message = info.get("statusmessage", info.get("reason"))
        return status, reason_for(None if code is None else str(code), _text(message))
    if status is Status.UNDELIVERED:
        return status, "other"
    return status, None


def _folded(value: Any) -> dict[str, Any]:
    """An object's keys lower-cased (``Info`` and ``info`` alike); {} for anything else."""
    if not isinstance(value, dict):
        return {}
    return {str(key).lower(): item for key, item in value.items()}


def _number(value: Any) -> int | None:
    """An integer, or a string of digits (the vendor's samples quote numbers)."""
    if type(value) is int:
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if (
        isinstance(value, str)
        and value.strip().isdecimal()
        and value.strip().isascii()
        and len(value.strip()) <= 18
    ):
        return int(value.strip())
    return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)[:200]

"""D7's delivery reports: posted to the ``report_url`` of a send (or of the account's settings).

One call per report: ``request_id``, ``msg_id``, ``recipient``, ``originator``
and ``status``, as JSON or as form data (URL-encoded or multipart). D7 does
not sign them, so the ``report_url`` carries the account's push token. The
recipient is a phone number: it is never read. A report says nothing of
parts, cost or country, which the ref's confirming poll counts.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sms_delivery_exporter.api import (
    Observation,
    PushBatch,
    PushedEvent,
    PushMalformed,
    PushRequest,
    TokenReceiver,
    push_form,
    push_json,
)
from sms_delivery_providers.d7.ref import D7Ref
from sms_delivery_providers.d7.statuses import STATUSES

CHANNELS = ("sms", "mms", "whatsapp", "viber")


class D7Receiver(TokenReceiver):
    """Reads D7's delivery reports; the report URL carries ``?token=<push.token>``."""

    def parse(self, request: PushRequest) -> PushBatch:
        if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
            reports: list[Any] = [push_form(request.body, request.headers.get("Content-Type", ""))]
        else:
            body = push_json(request.body)
            reports = body if isinstance(body, list) else [body]
        return PushBatch(events=[_event(index, report) for index, report in enumerate(reports)])


def _event(index: int, report: Any) -> PushedEvent:
    where = "the report" if index == 0 else f"report {index}"
    if not isinstance(report, dict):
        raise PushMalformed(f"{where} is not an object of fields")
    request_id, msg_id, raw = report.get("request_id"), report.get("msg_id"), report.get("status")
    if not isinstance(request_id, str) or not isinstance(msg_id, str) or not msg_id:
        raise PushMalformed(f"{where} needs request_id and msg_id")
    try:
        ref = D7Ref(request_id=request_id)
    except ValidationError:
        raise PushMalformed(f"{where}: request_id is not a D7 request id") from None
    known = STATUSES.get(raw.strip().lower()) if isinstance(raw, str) else None
    if known is None:
        raise PushMalformed(f"{where}: unknown status (D7 reports {', '.join(sorted(STATUSES))})")
    status, reason = known
    channel = report.get("channel")
    observation = Observation(
        key=msg_id[:100],
        status=status,
        provider_status=raw.strip().lower(),  # type: ignore[union-attr]
        reason=reason,
        channel=channel.lower()
        if isinstance(channel, str) and channel.lower() in CHANNELS
        else "sms",
    )
    return PushedEvent(ref=ref, observation=observation)

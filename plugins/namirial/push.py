"""Namirial's per-message webhooks: a ``STATUS_UPDATE`` for each change but the acceptance.

A send that names ``webhook {url, authentication: {type: "NONE"}}`` gets
``{"id", "webhookConfigurationId", "type": "STATUS_UPDATE", "createdAt",
"message": {...}}`` posted on each status change, the ``message`` being the
status API's. Namirial does not sign them, so the webhook URL carries the
account's push token. Calls of another type apply nothing.
"""

from __future__ import annotations

from pydantic import ValidationError

from sms_delivery_exporter.api import (
    BadResponse,
    PushBatch,
    PushedEvent,
    PushMalformed,
    PushRequest,
    TokenReceiver,
    parse_iso8601,
    push_json,
)
from sms_delivery_providers.namirial.message import parse_message
from sms_delivery_providers.namirial.ref import NamirialRef

TYPE = "STATUS_UPDATE"


class NamirialReceiver(TokenReceiver):
    """Reads Namirial's STATUS_UPDATE calls; the webhook URL carries ``?token=<push.token>``."""

    def parse(self, request: PushRequest) -> PushBatch:
        body = push_json(request.body)
        if not isinstance(body, dict):
            raise PushMalformed("a Namirial webhook is a JSON object")
        if body.get("type") != TYPE:
            return PushBatch()
        message = body.get("message")
        if not isinstance(message, dict):
            raise PushMalformed("a STATUS_UPDATE needs its 'message' object")
        try:
            ref = NamirialRef.model_validate({"id": message.get("id")})
        except ValidationError:
            raise PushMalformed("message.id is not a Namirial message id") from None
        try:
            observation = parse_message(message)
            created = parse_iso8601(body.get("createdAt"), "createdAt")
        except BadResponse as exc:
            raise PushMalformed(f"the message cannot be read: {exc}") from None
        event_id = body.get("id")
        return PushBatch(
            events=[
                PushedEvent(
                    ref=ref,
                    observation=observation,
                    event_id=event_id[:100] if isinstance(event_id, str) and event_id else None,
                    event_time=observation.changed_at if created is None else created,
                )
            ]
        )

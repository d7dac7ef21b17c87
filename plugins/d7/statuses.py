"""D7 message statuses: canonical status and reason of each, including the older spelling."""

from __future__ import annotations

from sms_delivery_exporter.api import Status

STATUSES: dict[str, tuple[Status, str | None]] = {
    "scheduled": (Status.QUEUED, None),
    "sent": (Status.SENT, None),
    "delivered": (Status.DELIVERED, None),
    "un_delivered": (Status.UNDELIVERED, "delivery_failed"),
    "undelivered": (Status.UNDELIVERED, "delivery_failed"),  # older documents' spelling
    "not_reachable": (Status.UNDELIVERED, "not_reachable"),
    "spam_content": (Status.REJECTED, "spam_content"),
    "insufficient_credit": (Status.REJECTED, "insufficient_credit"),
}

REASONS: dict[str, str] = {
    "delivery_failed": "the carrier reported a failed delivery (un_delivered)",
    "not_reachable": "the recipient is not reachable (not_reachable)",
    "spam_content": "D7 identified the content as spam (spam_content)",
    "insufficient_credit": "the D7 account ran out of credit (insufficient_credit): top it up",
}

"""MobileConnect standard status codes (also in ENS events): canonical status, reason, rank.

The API lists a recipient's codes in the order carriers answered, so a
recipient's state is its highest code, not its last. Numeric order is the
intended ranking and it carries two pitfalls, handled deliberately:

- 4000 (delivered) ranks below every 45xx: a delivery receipt followed by a
  failure in the same answer is a failure.
- 2xxx failures (an aggregator refused or throttled the hand-off) rank below
  3000: while the send job is still running, a 25xx/26xx may be followed by a
  successful retry, so it is provisional until the job is Finished (or Error).
  The same holds for 15xx at the send service.
"""

from __future__ import annotations

from sms_delivery_exporter.api import Status

CODES: dict[int, tuple[Status, str | None]] = {
    1000: (Status.QUEUED, None),
    1500: (Status.REJECTED, "queue_failure"),
    1501: (Status.REJECTED, "validation_error"),
    2000: (Status.SENT, None),
    2500: (Status.REJECTED, "aggregator_failure"),
    2501: (Status.REJECTED, "aggregator_unknown_error"),
    2502: (Status.REJECTED, "invalid_destination"),
    2600: (Status.REJECTED, "aggregator_throttled"),
    2601: (Status.REJECTED, "aggregator_socket_error"),
    3000: (Status.SENT, None),
    3001: (Status.SENT, None),
    3002: (Status.SENT, None),
    3400: (Status.SENT, None),
    4000: (Status.DELIVERED, None),
    4500: (Status.UNDELIVERED, "undeliverable"),
    4501: (Status.UNDELIVERED, "expired"),
    4502: (Status.UNDELIVERED, "deleted"),
    4503: (Status.REJECTED, "carrier_rejected"),
    4504: (Status.UNDELIVERED, "unknown_subscriber"),
    4505: (Status.UNDELIVERED, "invalid_destination"),
}

REASONS: dict[str, str] = {
    "queue_failure": "the send service could not queue the message (1500)",
    "validation_error": "the send service refused the message (1501)",
    "aggregator_failure": "the aggregator failed the hand-off (2500)",
    "aggregator_unknown_error": "the aggregator gave an unknown error (2501)",
    "invalid_destination": "the destination is invalid (2502, 4505)",
    "aggregator_throttled": "the aggregator throttled the hand-off (2600)",
    "aggregator_socket_error": "the connection to the aggregator failed (2601)",
    "undeliverable": "the carrier could not deliver (4500)",
    "expired": "the message expired before delivery (4501)",
    "deleted": "the carrier deleted the message (4502)",
    "carrier_rejected": "the carrier rejected it: loop or spam (4503)",
    "unknown_subscriber": "the number is not a subscriber (4504)",
    "job_error": "the send job ended in Error without reporting this recipient",
}


def classify(code: int) -> tuple[Status, str | None]:
    """Status and reason of a code; codes outside the table by their range, reason ``other``."""
    known = CODES.get(code)
    if known is not None:
        return known
    if code < 1500:
        return Status.QUEUED, None
    if code < 2000 or 2500 <= code < 3000:
        return Status.REJECTED, "other"
    if code < 4000:
        return Status.SENT, None
    return Status.UNDELIVERED, "other"


def is_provisional(code: int) -> bool:
    """A failure a running job may still retry past (see the module docstring)."""
    return code < 3000 and classify(code)[0] is Status.REJECTED

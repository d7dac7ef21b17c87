"""Reading what providers write: times, counts, amounts, and phone numbers that must not be kept.

Every provider answer goes through these, so that a plugin never lets a JSON
``true`` count as one part, an ``Infinity`` poison a counter, or a phone
number reach the store in clear.
"""

from __future__ import annotations

import hashlib
import hmac
import math
from datetime import datetime, tzinfo

from sms_delivery_exporter.api.errors import BadResponse


def iso8601_seconds(text: str, *, naive_zone: tzinfo | None = None) -> float:
    """Unix seconds of an ISO-8601 (RFC 3339) time; ``ValueError`` says what is wrong.

    A time without an offset is in ``naive_zone``; without one it is refused.
    """
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("not an RFC 3339 time such as 2026-01-02T15:04:05Z") from None
    if parsed.tzinfo is None:
        if naive_zone is None:
            raise ValueError("needs a time zone (Z or +hh:mm)")
        parsed = parsed.replace(tzinfo=naive_zone)
    return parsed.timestamp()


def parse_iso8601(value: object, field: str, *, naive_zone: tzinfo | None = None) -> float | None:
    """A provider's time field: Unix seconds, None when absent, else :class:`BadResponse`."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadResponse(f"{field} is not a string")
    try:
        return iso8601_seconds(value, naive_zone=naive_zone)
    except ValueError as exc:
        raise BadResponse(f"{field}: {exc}") from None


MAX_SEGMENTS = 255
"""One SMS has at most 255 parts (the concatenation header counts them in one byte)."""
MAX_RECIPIENTS = 100_000
"""More recipients than any provider accepts in one request."""
MAX_MESSAGE_COST = 100.0
"""More than any provider charges for one message, in any currency."""


def plausible(value: float | None, at_most: float, field: str) -> float | None:
    """``value`` if it could be true; :class:`BadResponse` (counted, never added) if it cannot."""
    if value is not None and value > at_most:
        raise BadResponse(f"{field} is implausible: more than {at_most:g}")
    return value


def segments_field(value: object, field: str) -> int | None:
    """Billed parts of one message: a count of at most MAX_SEGMENTS."""
    count = count_field(value)
    plausible(count, MAX_SEGMENTS, field)
    return count


def count_field(value: object) -> int | None:
    """A provider's count (parts, recipients) if it is a real non-negative integer.

    JSON ``true`` is an int to Python; a count must not be.
    """
    return value if type(value) is int and value >= 0 else None


def amount_field(value: object) -> float | None:
    """A provider's amount (cost) if it is a finite non-negative number.

    ``Infinity`` or ``NaN`` in an answer would poison a counter for good.
    """
    if type(value) not in (int, float):
        return None
    amount = float(value)  # type: ignore[arg-type]
    return amount if math.isfinite(amount) and amount >= 0 else None


class NumberHasher:
    """Tells phone numbers apart without keeping them: a keyed hash of their digits.

    The key is secret (derive it from a credential of the account) so that a
    leaked store cannot be reversed by hashing every possible number.
    """

    def __init__(self, key: bytes) -> None:
        self._key = key

    def __call__(self, number: str) -> str:
        digits = "".join(c for c in number if c.isdigit())
        return hmac.new(self._key, digits.encode(), hashlib.sha256).hexdigest()[:20]

"""Why a transactional SMS was not sent: ``info.statusCode`` onto a bounded set.

Only some subscriber error codes are published; unknown codes are ``other``
(the code itself is kept on the observation, never as a label).
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "unsubscribed": "the subscriber opted out (statusCode 1)",
    "held": "the subscriber is held (statusCode 2)",
    "missing_attributes": "required subscriber attributes are missing (statusCode 10)",
    "unspecified_error": "SFMC gave no detail (statusCode 15)",
    "address_not_found": "mobile address not found (statusCode 47)",
}
CODES = {
    "1": "unsubscribed",
    "2": "held",
    "10": "missing_attributes",
    "15": "unspecified_error",
    "47": "address_not_found",
}
MESSAGES = {
    "unsubscribed": "Unsubscribed",
    "held": "Held",
    "missing_attributes": "MissingRequiredAttributes",
    "unspecified_error": "UnspecifiedError",
    "address_not_found": "Mobile Address not found",
}


def reason_for(code: str | None, message: str | None) -> str:
    """The reason of a statusCode (or, lacking one, its statusMessage), else ``other``."""
    if code is not None and code in CODES:
        return CODES[code]
    if message:
        lowered = message.lower()
        for reason, text in MESSAGES.items():
            if text.lower() in lowered:
                return reason
    return "other"

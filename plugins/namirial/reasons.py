"""Namirial failure reasons: the provider's free text onto a bounded, documented set.

Namirial passes through the downstream provider's ``status``, ``code`` and
an optional ``message`` ("Number Blocked by Carrier"). None of them is an
enumerated vocabulary, so the reason is found by keywords, most specific
first; whatever matches nothing is ``other``.
"""

from __future__ import annotations

REASONS: dict[str, str] = {
    "number_blocked": "the carrier or the recipient blocks the number",
    "unknown_subscriber": "the number does not exist or is not assigned",
    "unreachable": "handset off, out of coverage or absent",
    "invalid_number": "the number is malformed or not a mobile number",
    "spam": "filtered as spam or unwanted content",
    "insufficient_credit": "the sending account is out of credit",
    "validity_expired": "the message's validity period ran out before delivery",
    "carrier_error": "a network or carrier fault",
}
"""Every reason this provider reports, with what it means (README's table comes from here)."""

_KEYWORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("insufficient_credit", ("insufficient", "credit", "balance", "funds")),
    ("number_blocked", ("blocked", "blacklist", "barred", "opt-out", "opted out", "stop")),
    ("spam", ("spam", "content filter", "filtered")),
    (
        "unknown_subscriber",
        (
            "unknown subscriber",
            "unknown number",
            "not assigned",
            "unallocated",
            "does not exist",
            "inexistent",
        ),
    ),
    (
        "invalid_number",
        (
            "invalid number",
            "invalid destination",
            "invalid msisdn",
            "malformed",
            "not a mobile",
            "landline",
        ),
    ),
    ("validity_expired", ("expired", "validity", "ttl")),
    (
        "unreachable",
        (
            "absent",
            "unreachable",
            "not reachable",
            "switched off",
            "out of coverage",
            "memory full",
            "handset",
        ),
    ),
    (
        "carrier_error",
        (
            "carrier error",
            "network error",
            "system error",
            "routing",
            "network failure",
            "operator",
        ),
    ),
)


def reason_for(*texts: str | None) -> str:
    """The reason named by the provider's message, status or code, else ``other``."""
    haystack = " ".join(text.lower() for text in texts if text)
    for reason, keywords in _KEYWORDS:
        if any(keyword in haystack for keyword in keywords):
            return reason
    return "other"

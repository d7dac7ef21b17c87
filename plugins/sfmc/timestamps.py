"""SFMC timestamps: Central Standard Time all year (no daylight saving), no offset written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from exporter.errors import BadResponse

CST = timezone(timedelta(hours=-6), "CST")


def parse_cst(value: object, field: str) -> float | None:
    """Unix seconds from ``2018-08-03T13:41:18.55`` read as UTC−06:00; None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadResponse(f"{field} is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadResponse(f"{field} is not an ISO-8601 time") from None
    # A written offset is believed; the documented form has none and means CST.
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CST)
    return parsed.timestamp()


def format_cst(seconds: float) -> str:
    """The form SFMC writes, for simulators: milliseconds, no offset."""
    return (
        datetime.fromtimestamp(seconds, CST).replace(tzinfo=None).isoformat(timespec="milliseconds")
    )

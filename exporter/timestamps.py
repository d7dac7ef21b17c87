"""Reading the ISO-8601 times providers write, with errors that name the field."""

from __future__ import annotations

from datetime import datetime, tzinfo

from sms_delivery_exporter.errors import BadResponse


def parse_iso8601(value: object, field: str, *, naive_zone: tzinfo | None = None) -> float | None:
    """Unix seconds, None when absent; a time without offset is in ``naive_zone``, else an error."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise BadResponse(f"{field} is not a string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BadResponse(f"{field} is not an ISO-8601 time") from None
    if parsed.tzinfo is None:
        if naive_zone is None:
            raise BadResponse(f"{field} has no time zone")
        parsed = parsed.replace(tzinfo=naive_zone)
    return parsed.timestamp()

"""SFMC timestamps: Central Standard Time all year (no daylight saving), no offset written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sms_delivery_exporter.api import parse_iso8601

CST = timezone(timedelta(hours=-6), "CST")


def parse_cst(value: object, field: str) -> float | None:
    """Unix seconds from ``2018-08-03T13:41:18.55`` read as UTC−06:00; None when absent.

    A written offset is believed; the documented form has none and means CST.
    """
    return parse_iso8601(value, field, naive_zone=CST)


def format_cst(seconds: float) -> str:
    """The form SFMC writes, for simulators: milliseconds, no offset."""
    return (
        datetime.fromtimestamp(seconds, CST).replace(tzinfo=None).isoformat(timespec="milliseconds")
    )

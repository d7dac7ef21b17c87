"""A webhook event as the store keeps it until it is applied, and the key of its redeliveries.

The kept text holds what the plugin read, never the body: no phone number
reaches the store (a plugin never keys a message by a number in clear), and
provider strings are cut to bounded lengths.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from typing import Any

import orjson

from sms_delivery_exporter.api import MAX_SEGMENTS, Observation, PushedEvent, Status

_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""Made once: json.dumps with options makes an encoder per call (orjson is used first: it
takes a fifth of the time, on the event loop, for every event)."""
MAX_TEXT = 64
MAX_KEY_TIME = 2.0**48 / 1000
"""Event times (Unix seconds) that lead a dedupe key: 12 hex digits of milliseconds."""
"""Longest provider status, code, reason, currency or country kept (plugins cut theirs too)."""


@dataclass(slots=True)
class KeptEvent:
    """A webhook event read back from the store."""

    id: int
    account: str
    ref_key: str
    observation: Observation
    received_at: float
    event_time: float | None


def kept(event: PushedEvent, ref_key: str) -> tuple[list[Any], str]:
    """The fields the store keeps of an event (bounded, finite), and their text."""
    seen = event.observation
    fields = [
        ref_key,
        _cut(seen.key, 200),
        seen.status.value,
        _cut(seen.provider_status),
        _cut(seen.code),
        _cut(seen.reason),
        _finite(seen.accepted_at),
        _finite(seen.changed_at),
        _cut(seen.channel),
        seen.segments if _plausible_parts(seen.segments) else None,
        _finite(seen.cost),
        _cut(seen.currency),
        _cut(seen.country),
        int(seen.read),
        _finite(event.event_time),
    ]
    try:
        return fields, orjson.dumps(fields).decode()
    except orjson.JSONEncodeError:
        # A lone surrogate (a plugin's string from elsewhere than orjson's reading):
        # json escapes it, orjson refuses it.
        return fields, _COMPACT.encode(fields)


def decode(event_id: int, account: str, received_at: float, text: str) -> KeptEvent:
    """An event as the store kept it."""
    return restore(event_id, account, received_at, json.loads(text))


def restore(event_id: int, account: str, received_at: float, fields: list[Any]) -> KeptEvent:
    """An event from the fields kept of it (the same whether read back or just committed)."""
    observation = Observation(
        key=fields[1],
        status=Status(fields[2]),
        provider_status=fields[3] or "",
        code=fields[4],
        reason=fields[5],
        accepted_at=fields[6],
        changed_at=fields[7],
        channel=fields[8] or "sms",
        segments=fields[9],
        cost=fields[10],
        currency=fields[11],
        country=fields[12],
        read=bool(fields[13]),
    )
    return KeptEvent(event_id, account, fields[0], observation, received_at, fields[14])


def dedupe_key(event: PushedEvent, ref_key: str) -> str:
    """The same for every delivery of one event: the provider's id, else what it says;
    led by the event's time in milliseconds where it has one.

    The time leads so that the keys of a provider's stream come in the order the events
    were made, and the store's unique index on them grows at its end: with a hash alone,
    every event wrote a random page of that index to the write-ahead log, the largest
    cost of keeping an event before its 200 (bench/README.md, section 9). A redelivery
    carries its event's time, so it still gets the same key.
    """
    if event.event_id:
        identity = "id\x1f" + event.event_id
    else:
        seen = event.observation
        identity = "\x1f".join(
            map(
                str,
                (
                    ref_key,
                    seen.key,
                    seen.status.value,
                    seen.provider_status,
                    seen.code,
                    seen.changed_at,
                    seen.read,
                    event.event_time,
                ),
            )
        )
    digest = hashlib.blake2b(identity.encode(), digest_size=16).hexdigest()
    when = event.event_time
    if when is None or not 0 <= when < MAX_KEY_TIME:  # NaN fails both
        return digest
    return f"{int(when * 1000):012x}{digest}"


def _cut(text: str | None, limit: int = MAX_TEXT) -> str | None:
    return None if text is None else str(text)[:limit]


def _finite(value: float | None) -> float | None:
    """Infinity or NaN would poison a latency or a cost: unknown instead."""
    return value if value is not None and math.isfinite(value) else None


def _plausible_parts(segments: object) -> bool:
    return type(segments) is int and 0 <= segments <= MAX_SEGMENTS

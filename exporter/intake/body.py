"""Reading an intake body: a JSON object, a JSON array, or NDJSON, into raw items."""

from __future__ import annotations

import json
from typing import Any

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")


class BodyError(Exception):
    """The body as a whole cannot be read."""


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """The items of a JSON object, a JSON array, or NDJSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise BodyError("the body is empty; send a JSON object, a JSON array or NDJSON")
    if content_type in NDJSON_TYPES:
        return _parse_ndjson(text)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BodyError(f"the body is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise BodyError("the body is an empty array")
        return value
    raise BodyError("the body must be a JSON object or an array of objects")


def _parse_ndjson(text: str) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError as exc:
            raise BodyError(f"NDJSON line {number} is not valid JSON: {exc}") from None
    return items

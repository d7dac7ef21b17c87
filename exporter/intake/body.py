"""Reading an intake body: a JSON object, a JSON array, or NDJSON, into raw items, within bounds.

The body's size is capped by the web layer; the work done on it is capped
here, so that no body under the size limit costs more than a few of its own
sizes in memory or more than a moment of the event loop:

- at most ``max_items`` items: reading stops at the first item beyond, so a
  body of eight million ``1`` lines costs ten thousand of them, not eight million;
- at most :data:`MAX_ITEM_CHARS` characters per item, each decoded on its own
  (never the whole body at once): a single huge item is refused before it is built;
- at most :data:`MAX_DEPTH` levels of nesting (an item is an object of strings
  with one ``labels`` object: three levels in an array).

NDJSON lines end at ``\\n`` (a ``\\r`` before it is dropped); JSON allows a raw
U+2028 or U+2029 inside a string, so they do not end a line.
"""

from __future__ import annotations

import json
import re
from typing import Any

NDJSON_TYPES = ("application/x-ndjson", "application/jsonl", "application/json-seq")
MAX_ITEM_CHARS = 16 * 1024
"""Longest item, in characters of JSON text; real items are a few hundred."""
MAX_DEPTH = 8
"""Deepest nesting of arrays and objects, counting the body's own array."""

_DECODER = json.JSONDecoder()
_NON_SPACE = re.compile(r"[^ \t\n\r]")
_NDJSON_LINE_START = re.compile(r"[^ \t\n\r\x1e]")  # json-seq puts RS before each item


class BodyError(Exception):
    """The body as a whole cannot be read."""


class TooManyItems(BodyError):
    """The body holds more items than a request may."""


def parse_body(body: bytes, content_type: str, *, max_items: int = 10_000) -> list[Any]:
    """The items of a JSON object, an array or NDJSON; :class:`BodyError` says what is wrong."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 (byte {exc.start})") from None
    if content_type in NDJSON_TYPES:
        items = _parse_ndjson(text, max_items)
    else:
        items = _parse_json(text, max_items)
    if not items:
        raise BodyError("the body is empty; send a JSON object, a JSON array or NDJSON")
    return items


def _parse_json(text: str, max_items: int) -> list[Any]:
    start = _skip_space(text, 0)
    if start == len(text):
        return []
    if text[start] != "[":
        value, end = _decode(text, start, "the body")
        if _skip_space(text, end) != len(text):
            raise BodyError(f"the body is not valid JSON: extra data at character {end}")
        if not isinstance(value, dict):
            raise BodyError("the body must be a JSON object or an array of objects")
        _check_depth(value, 1, "the body")
        return [value]
    items: list[Any] = []
    position = _skip_space(text, start + 1)
    if position < len(text) and text[position] == "]":
        if _skip_space(text, position + 1) != len(text):
            raise BodyError("the body is not valid JSON: extra data after the array")
        raise BodyError("the body is an empty array")
    while True:
        if len(items) == max_items:
            raise TooManyItems(f"the body holds more than {max_items} items; split the batch")
        where = f"item {len(items)}"
        value, end = _decode(text, position, where)
        _check_depth(value, 2, where)
        items.append(value)
        position = _skip_space(text, end)
        if position == len(text):
            raise BodyError("the body is not valid JSON: the array is not closed")
        if text[position] == "]":
            break
        if text[position] != ",":
            raise BodyError(f"the body is not valid JSON: expected ',' or ']' after {where}")
        position = _skip_space(text, position + 1)
    if _skip_space(text, position + 1) != len(text):
        raise BodyError("the body is not valid JSON: extra data after the array")
    return items


def _parse_ndjson(text: str, max_items: int) -> list[Any]:
    items: list[Any] = []
    position = 0
    line_number = 1
    while (found := _NDJSON_LINE_START.search(text, position)) is not None:
        start = found.start()
        line_number += text.count("\n", position, start)
        end = text.find("\n", start)
        end = len(text) if end == -1 else end
        if len(items) == max_items:
            raise TooManyItems(f"the body holds more than {max_items} items; split the batch")
        where = f"NDJSON line {line_number}"
        if end - start > MAX_ITEM_CHARS:
            raise BodyError(f"{where} is longer than {MAX_ITEM_CHARS} characters")
        value, stop = _decode(text[start:end], 0, where)
        if _skip_space(text[start:end], stop) != end - start:
            raise BodyError(f"{where} is not valid JSON: extra data at column {stop + 1}")
        _check_depth(value, 1, where)
        items.append(value)
        position = end
    return items


def _decode(text: str, start: int, where: str) -> tuple[Any, int]:
    """One JSON value from ``start``, read from at most MAX_ITEM_CHARS characters of text."""
    window = text[start : start + MAX_ITEM_CHARS + 1]
    try:
        value, end = _DECODER.raw_decode(window)
    except RecursionError:
        raise BodyError(f"{where} is nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:
        if len(window) > MAX_ITEM_CHARS:
            raise BodyError(f"{where} is longer than {MAX_ITEM_CHARS} characters") from None
        raise BodyError(f"{where} is not valid JSON: {exc}") from None
    return value, start + end


def _check_depth(value: Any, depth: int, where: str) -> None:
    """Refuse nesting beyond MAX_DEPTH, without recursion (the item is small: see _decode)."""
    stack = [(value, depth)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if level > MAX_DEPTH:
            raise BodyError(f"{where} is nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, level + 1) for child in children)


def _skip_space(text: str, position: int) -> int:
    found = _NON_SPACE.search(text, position)
    return len(text) if found is None else found.start()

"""Error answers: always JSON with an ``error`` that says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import hdrs, web


def json_error(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    body: dict[str, Any] = {"error": message, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )


def encoded_body_refused(request: web.Request) -> web.Response | None:
    """415 for a compressed request body, else None.

    The server does not inflate request bodies (``auto_decompress`` off): a few
    kilobytes of gzip can inflate to gigabytes, and aiohttp would inflate what
    is left of one even after a 413, while it drains the connection. No provider
    compresses its webhooks; an application sends its batches as they are.
    """
    encoding = request.headers.get(hdrs.CONTENT_ENCODING, "").strip().lower()
    if encoding in ("", "identity"):
        return None
    # The header's value is the caller's: never quoted back.
    return json_error(
        415, "compressed request bodies are not accepted (Content-Encoding): send it as is"
    )

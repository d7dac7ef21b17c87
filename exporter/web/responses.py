"""Error answers: always JSON with an ``error`` that says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiohttp import web


def json_error(
    status: int, message: str, *, headers: Mapping[str, str] | None = None, **extra: Any
) -> web.Response:
    body: dict[str, Any] = {"error": message, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )

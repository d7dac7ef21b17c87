"""``POST /api/v1/messages``: the batch is committed before the 202.

Every answer but the 202 is a JSON error naming what is wrong: 401 without
the token, 408 when the body is not sent within ``intake.read_timeout``, 413
beyond ``intake.max_body_bytes`` or ``intake.max_items``, 400 for an
unreadable body or invalid items (the first :data:`MAX_LISTED` problems and
the count of the rest), 503 when the store cannot commit. A refused batch
applies nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from sms_delivery_exporter.config import IntakeConfig
from sms_delivery_exporter.intake.body import BodyError, TooManyItems, parse_body
from sms_delivery_exporter.intake.registrar import IntakeRejected
from sms_delivery_exporter.store import StoreUnavailable
from sms_delivery_exporter.web.bearer import BearerToken
from sms_delivery_exporter.web.keys import INTAKE
from sms_delivery_exporter.web.responses import encoded_body_refused, json_error

MAX_LISTED = 20
"""Problems listed in a 400; the rest are counted (a body of a million bad items stays small)."""
RETRY_AFTER = "10"


class IntakeHandler:
    """``POST /api/v1/messages``: the batch is committed before the 202."""

    def __init__(self, config: IntakeConfig) -> None:
        self._config = config
        self._token = BearerToken(config.token) if config.token is not None else None

    async def handle(self, request: web.Request) -> web.Response:
        if self._token is not None and not self._token.matches(
            request.headers.get("Authorization")
        ):
            return json_error(
                401,
                "missing or wrong bearer token (send Authorization: Bearer <intake.token>)",
                headers={"WWW-Authenticate": 'Bearer realm="sms-delivery-exporter"'},
            )
        refused = encoded_body_refused(request)
        if refused is not None:
            return refused
        limit = self._config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        try:
            async with asyncio.timeout(self._config.read_timeout):
                body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(limit)
        except TimeoutError:
            return json_error(
                408,
                f"the body did not arrive within intake.read_timeout"
                f" ({self._config.read_timeout:g}s); nothing was registered",
                headers={"Connection": "close"},
            )
        if len(body) > limit:
            return _too_large(limit)
        try:
            items = parse_body(body, request.content_type, max_items=self._config.max_items)
        except TooManyItems as exc:
            return json_error(413, f"{exc} (intake.max_items); nothing was registered")
        except BodyError as exc:
            return json_error(400, str(exc))
        del body
        try:
            result = await request.app[INTAKE].register(items)
        except IntakeRejected as rejected:
            return _rejected(rejected)
        except StoreUnavailable as exc:
            return json_error(
                503,
                f"the store cannot commit now ({exc}); nothing of this batch was registered:"
                " send it again later",
                headers={"Retry-After": RETRY_AFTER},
            )
        return web.json_response(result.as_json(), status=202)


def _rejected(rejected: IntakeRejected) -> web.Response:
    errors = rejected.errors
    extra: dict[str, Any] = {"errors": [error.as_json() for error in errors[:MAX_LISTED]]}
    if len(errors) > MAX_LISTED:
        extra["more_errors"] = len(errors) - MAX_LISTED
    return json_error(
        400, f"{len(errors)} problem(s); nothing in this batch was registered", **extra
    )


def _too_large(limit: int) -> web.Response:
    return json_error(
        413, f"the body is larger than intake.max_body_bytes ({limit} bytes); split the batch"
    )

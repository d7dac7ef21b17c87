"""``POST /api/v1/messages``: the batch is committed before the 202."""

from __future__ import annotations

import hmac

from aiohttp import web

from sms_delivery_exporter.config import IntakeConfig
from sms_delivery_exporter.intake.body import BodyError, parse_body
from sms_delivery_exporter.intake.registrar import IntakeRejected
from sms_delivery_exporter.web.keys import INTAKE
from sms_delivery_exporter.web.responses import json_error


class IntakeHandler:
    """``POST /api/v1/messages``: the batch is committed before the 202."""

    def __init__(self, config: IntakeConfig) -> None:
        self._config = config
        token = config.token.get_secret_value() if config.token is not None else None
        self._expected = f"Bearer {token}".encode() if token else None

    async def handle(self, request: web.Request) -> web.Response:
        if self._expected is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, self._expected):
                return json_error(
                    401,
                    "missing or wrong bearer token (send Authorization: Bearer <intake.token>)",
                    headers={"WWW-Authenticate": 'Bearer realm="sms-delivery-exporter"'},
                )
        limit = self._config.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _too_large(limit)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(limit)
        if len(body) > limit:
            return _too_large(limit)
        try:
            items = parse_body(body, request.content_type)
        except BodyError as exc:
            return json_error(400, str(exc))
        try:
            result = await request.app[INTAKE].register(items)
        except IntakeRejected as rejected:
            return json_error(
                400,
                f"{len(rejected.errors)} problem(s); nothing in this batch was registered",
                errors=[error.as_json() for error in rejected.errors],
            )
        return web.json_response(result.as_json(), status=202)


def _too_large(limit: int) -> web.Response:
    return json_error(
        413, f"the body is larger than intake.max_body_bytes ({limit} bytes); split the batch"
    )

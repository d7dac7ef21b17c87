"""``POST /api/v1/push/{account}``: a provider's webhook call, acknowledged once it is committed.

200 ``{"accepted": n, "duplicates": n}`` after the call's events are
committed (a redelivered event is a duplicate, not an error); 401 for a
wrong signature or token; 400 for a body the provider's plugin cannot read;
413 beyond ``push.max_body_bytes``; 408 when the body is not sent within
``intake.read_timeout``; 415 for a compressed body (``Content-Encoding``:
never inflated); 404 for an account without push; 503 (with
``Retry-After``) when nothing could be kept: the provider sends it again.
Every error is JSON naming what is wrong and quotes nothing the caller sent.
The query string (which carries the token) is never logged.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from sms_delivery_exporter.api import PushMalformed, PushRefused, PushRequest
from sms_delivery_exporter.config import IntakeConfig
from sms_delivery_exporter.push.receiving import Endpoint, PushUnavailable
from sms_delivery_exporter.web.keys import PUSH
from sms_delivery_exporter.web.responses import encoded_body_refused, json_error

RETRY_AFTER = "10"


class PushHandler:
    """Every account's webhook endpoint."""

    def __init__(self, intake: IntakeConfig) -> None:
        self._read_timeout = intake.read_timeout

    async def handle(self, request: web.Request) -> web.Response:
        host = request.app[PUSH]
        endpoint = host.endpoints.get(request.match_info["account"])
        if endpoint is None:
            # The name is never quoted back: it is whatever the caller wrote.
            return json_error(404, "no webhook endpoint for this account (no push: block)")
        refused = encoded_body_refused(request)
        if refused is not None:
            endpoint.health.called("malformed")
            return refused
        body = await self._body(request, endpoint)
        if isinstance(body, web.Response):
            return body
        call = PushRequest(body, request.content_type, request.headers, request.query)
        try:
            answer = await host.receive(endpoint, call)
        except PushRefused as refused:
            return json_error(401, f"not the provider's call: {refused}")
        except PushMalformed as malformed:
            return json_error(400, f"{malformed}; nothing was applied")
        except PushUnavailable as exc:
            return json_error(
                503,
                f"{exc}; nothing of this call was kept: send it again later",
                headers={"Retry-After": RETRY_AFTER},
            )
        return web.Response(body=answer.body(), content_type="application/json")

    async def _body(self, request: web.Request, endpoint: Endpoint) -> bytes | web.Response:
        """The whole body within its limits, or the answer that says which it broke."""
        limit = endpoint.max_body_bytes
        if request.content_length is not None and request.content_length > limit:
            return _too_large(endpoint)
        if request.content.is_eof():
            # The whole body came with the headers (a provider's call of one event, most
            # of them): taken at once, with no timer and no chunk loop, which cost a
            # tenth of the event loop's time per call at full load (bench/README.md).
            body = request.content.read_nowait()
            return _too_large(endpoint) if len(body) > limit else body
        chunks: list[bytes] = []
        size = 0
        try:
            async with asyncio.timeout(self._read_timeout):
                # In chunks, so that a body without a length stops at the limit (not
                # request.read(), whose limit is the intake's, client_max_size).
                async for chunk in request.content.iter_chunked(64 * 1024):
                    size += len(chunk)
                    if size > limit:
                        return _too_large(endpoint)
                    chunks.append(chunk)
        except TimeoutError:
            endpoint.health.called("timeout")
            return json_error(
                408,
                f"the body did not arrive within intake.read_timeout ({self._read_timeout:g}s);"
                " nothing was applied",
                headers={"Connection": "close"},
            )
        return b"".join(chunks)


def _too_large(endpoint: Endpoint) -> web.Response:
    endpoint.health.called("too_large")
    response = json_error(
        413,
        f"the body is larger than push.max_body_bytes ({endpoint.max_body_bytes} bytes);"
        " nothing was applied",
    )
    # Not kept alive: aiohttp drains what is left of the body (raw bytes, never inflated)
    # for at most its lingering time, then closes the connection.
    response.force_close()
    return response

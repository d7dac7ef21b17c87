"""aiohttp's request handler, made safe to face the open network.

aiohttp answers a malformed request (a NUL or a bare CR in a header, a
request line too long) with the parser's message, which quotes the raw
header line, and logs it with a traceback at error level; a client that
disconnects early leaves another traceback. Either lets anyone fill the log,
and the first puts whatever the header held (an intake token) into the log
and back on the wire. This handler answers with a fixed JSON error, logs the
error's class name only (debug level for what clients do, error level for
our own bugs, with the file and line but never the message), and keeps the
time of each connection's last activity for the connection cap.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_request import BaseRequest

log = logging.getLogger("sms_delivery_exporter.web.server")
access_log = logging.getLogger("sms_delivery_exporter.web.access")

_MESSAGES = {
    400: "malformed HTTP request (request line, header or body encoding); nothing of it was used",
    413: "the request is too large",
    431: "the request headers are too large",
    500: "internal error; it was logged",
    504: "the request took too long",
}


class SafeRequestHandler(web.RequestHandler):
    """A RequestHandler that never echoes or logs what a client sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = asyncio.get_running_loop().time
        self.last_active = self._clock()
        self.on_made: list[Any] = []
        """Called when connected: with TLS, once the handshake succeeded (a failed one never is)."""
        self.on_lost: list[Any] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.last_active = self._clock()
        for callback in self.on_made:
            callback(self)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self.last_active = self._clock()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        for callback in self.on_lost:
            callback(self)
        super().connection_lost(exc)

    @property
    def busy(self) -> bool:
        """A request is being handled (not merely waiting for one)."""
        return bool(getattr(self, "_request_in_progress", False))

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if status >= 500 and exc is not None and not isinstance(exc, ConnectionError):
            log.error("request failed", extra={"status": status, **describe(exc)})
        else:
            log.debug("request refused", extra={"status": status, **describe(exc)})
        if request.writer.output_size > 0:
            raise ConnectionError("the response was already started")
        text = _MESSAGES.get(status, "the request failed")
        response = web.Response(
            status=status, text=json.dumps({"error": text}), content_type="application/json"
        )
        response.force_close()
        return response

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if not isinstance(exc, BaseException):
            exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError):
            log.debug("client went away", extra=describe(exc))
        else:
            log.error("request handling failed", extra=describe(exc))


def describe(exc: BaseException | None) -> dict[str, str]:
    """An exception's class and where it was raised: never its message (it may quote input)."""
    if exc is None:
        return {}
    fields = {"error": type(exc).__name__}
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        frame = frames[-1]
        fields["where"] = f"{Path(frame.filename).name}:{frame.lineno}"
    return fields


class SafeAccessLogger(AbstractAccessLogger):
    """One debug line per request: method, route (never the raw path or a header), status."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        route = "(none)"  # a request refused before routing has no match info
        with contextlib.suppress(AssertionError, AttributeError):
            resource = request.match_info.route.resource  # type: ignore[attr-defined]
            route = resource.canonical if resource is not None else route
        self.logger.debug(
            "request",
            extra={
                "method": request.method[:16],
                "route": route,
                "status": response.status,
                "bytes": response.body_length,
                "seconds": round(time, 4),
            },
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.DEBUG)

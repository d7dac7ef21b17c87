"""A cap on open connections, so that idle ones can never lock out a scrape.

aiohttp keeps every connection a client opens until its keep-alive timeout,
so a few thousand idle connections exhaust the process's descriptors and
``/metrics`` stops answering. Under the cap, nothing changes; at the cap, a
new connection closes the longest-idle connection that is not in the middle
of a request (an idle or half-sent connection of an abuser before a
Prometheus scrape in progress), and is refused with a 503 only when every
connection is busy.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

from aiohttp import web

from sms_delivery_exporter.web.handler import SafeRequestHandler

log = logging.getLogger(__name__)

_BUSY = b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
HANDSHAKE_TIMEOUT = 10.0
"""A TLS handshake not done by then is dropped, so pending handshakes cannot pile up either."""


class ConnectionGuard:
    """The protocol factory of the listening socket: safe handlers, at most ``limit`` at once."""

    def __init__(self, server: web.Server, limit: int, handler_options: dict[str, Any]) -> None:
        self._server = server
        self.limit = limit
        self._options = handler_options
        # Connected handlers, in order of connection. A TLS connection counts once its
        # handshake is done (a failed handshake never reaches its handler); pending
        # handshakes are bounded by HANDSHAKE_TIMEOUT instead.
        self._open: dict[SafeRequestHandler, None] = {}
        self.evicted = 0
        self.refused = 0

    def __call__(self) -> asyncio.Protocol:
        if len(self._open) >= self.limit and not self._evict_one():
            self.refused += 1
            log.warning(
                "connection cap reached and every connection busy: refused a connection",
                extra={"cap": self.limit, "refused": self.refused},
            )
            return _Busy()
        handler = SafeRequestHandler(self._server, loop=asyncio.get_running_loop(), **self._options)
        handler.on_made.append(self._opened)
        handler.on_lost.append(self._forget)
        return handler

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def _opened(self, handler: SafeRequestHandler) -> None:
        self._open[handler] = None

    def _forget(self, handler: SafeRequestHandler) -> None:
        self._open.pop(handler, None)

    def _evict_one(self) -> bool:
        idle = [handler for handler in self._open if not handler.busy]
        if not idle:
            return False
        oldest = min(idle, key=lambda handler: handler.last_active)
        self._open.pop(oldest, None)
        oldest.force_close()
        self.evicted += 1
        log.warning(
            "connection cap reached: closed the longest idle connection",
            extra={"cap": self.limit, "evicted": self.evicted},
        )
        return True


class _Busy(asyncio.Protocol):
    """Answers 503 and closes: every connection under the cap is handling a request."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if isinstance(transport, asyncio.WriteTransport):
            transport.write(_BUSY)
        transport.close()


class GuardedSite(web.BaseSite):
    """A TCP site whose connections go through a :class:`ConnectionGuard`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        *,
        guard: ConnectionGuard,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 128,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._host = host
        self._port = port
        self._guard = guard
        self.bound_port = port

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self.bound_port}"

    async def start(self) -> None:
        await super().start()
        server = await asyncio.get_running_loop().create_server(
            self._guard,
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            ssl_handshake_timeout=HANDSHAKE_TIMEOUT if self._ssl_context else None,
        )
        self._server = server
        if server.sockets:
            self.bound_port = server.sockets[0].getsockname()[1]

"""Serving the exporter's application: TLS, basic auth, connection cap, timeouts, safe logging.

:func:`start` puts an application on the network the way the CLI runs it
(tests use it too): aiohttp's runner with :class:`~.handler.SafeRequestHandler`
behind a :class:`~.connections.ConnectionGuard`, an idle timeout that also
closes connections that never finish their headers, the web config's TLS and
basic auth, and the access log through the project's logging.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sms_delivery_exporter.config import Config
from sms_delivery_exporter.web.basic_auth import BasicAuth
from sms_delivery_exporter.web.connections import ConnectionGuard, GuardedSite
from sms_delivery_exporter.web.handler import SafeAccessLogger, access_log, log
from sms_delivery_exporter.web.paths import INTAKE_PATH, PUSH_PREFIX
from sms_delivery_exporter.web.web_config import WebConfig, ssl_context

DEFAULT_MAX_CONNECTIONS = 512
DEFAULT_IDLE_TIMEOUT = 65.0
"""Above the usual 60 s scrape interval, so that Prometheus keeps its connection."""
SHUTDOWN_TIMEOUT = 10.0
"""How long SIGTERM waits for requests in progress."""


@dataclass(frozen=True)
class ServerOptions:
    """How the exporter faces the network."""

    web: WebConfig = field(default_factory=WebConfig)
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    idle_timeout: float = DEFAULT_IDLE_TIMEOUT
    shutdown_timeout: float = SHUTDOWN_TIMEOUT


@dataclass
class Serving:
    """A running server: its runner (cleanup stops it), site and connection guard."""

    runner: web.AppRunner
    site: GuardedSite
    guard: ConnectionGuard

    @property
    def url(self) -> str:
        return self.site.name


def protect(app: web.Application, config: Config, web_config: WebConfig) -> None:
    """Add the web config's basic auth and headers to every endpoint (before the app starts)."""
    if web_config.basic_auth_users:
        token_intake = config.intake.enabled and config.intake.token is not None
        # Providers cannot send basic auth: webhooks prove themselves by signature or token.
        webhooks = any(account.push is not None for account in config.accounts.values())
        auth = BasicAuth(
            web_config.basic_auth_users,
            exempt=lambda request: (
                (token_intake and request.path == INTAKE_PATH)
                or (webhooks and request.path.startswith(PUSH_PREFIX))
            ),
        )
        app.middlewares.insert(0, auth.middleware)
    headers = dict(web_config.http_server_config.headers)
    if headers:

        async def add_headers(request: web.Request, response: web.StreamResponse) -> None:
            response.headers.update(headers)

        app.on_response_prepare.append(add_headers)


PARSING: dict[str, Any] = {
    "max_line_size": 8190,
    "max_field_size": 8190,
    # Bodies come as sent: a compressed one is refused (415), never inflated, so that no
    # request can make the server inflate gigabytes (see responses.encoded_body_refused).
    "auto_decompress": False,
}
"""How requests are parsed (tests serve the app in-process with the same)."""


async def start(
    app: web.Application, config: Config, host: str, port: int, options: ServerOptions
) -> Serving:
    """Start the application (opening the store) and listen; the caller cleans the runner up."""
    protect(app, config, options.web)
    handler_options: dict[str, Any] = {
        "keepalive_timeout": options.idle_timeout,
        "logger": log,
        "access_log_class": SafeAccessLogger,
        "access_log": access_log,
        **PARSING,
    }
    runner = web.AppRunner(app, shutdown_timeout=options.shutdown_timeout, **handler_options)
    await runner.setup()
    try:
        assert runner.server is not None
        guard = ConnectionGuard(runner.server, options.max_connections, handler_options)
        site = GuardedSite(runner, host, port, guard=guard, ssl_context=ssl_context(options.web))
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    logging.getLogger(__name__).info(
        "listening",
        extra={"address": site.name, "tls": options.web.tls, "max_connections": guard.limit},
    )
    return Serving(runner, site, guard)

"""The web app: landing page, /metrics, health, readiness and the intake API."""

from __future__ import annotations

import asyncio
import hmac
import html
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client.exposition import choose_encoder

from sms_delivery_exporter import __version__
from sms_delivery_exporter.config import IntakeConfig
from sms_delivery_exporter.intake import IntakeRejected
from sms_delivery_exporter.intake_items import BodyError, parse_body
from sms_delivery_exporter.runtime import Exporter

EXPORTER = web.AppKey("exporter", Exporter)
INTAKE_PATH = "/api/v1/messages"


def create_app(exporter: Exporter) -> web.Application:
    """The exporter as an aiohttp application; starting it starts polling."""
    intake = exporter.config.intake
    # Leave room over the intake limit so that we, not aiohttp, answer the 413.
    app = web.Application(client_max_size=intake.max_body_bytes + 1)
    app[EXPORTER] = exporter
    app.cleanup_ctx.append(_run_exporter)
    app.router.add_get("/", landing_page)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/-/healthy", healthy)
    app.router.add_get("/-/ready", ready)
    if intake.enabled:
        app.router.add_post(INTAKE_PATH, IntakeHandler(intake).handle)
    return app


async def _run_exporter(app: web.Application) -> AsyncIterator[None]:
    exporter = app[EXPORTER]
    connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=300)
    async with aiohttp.ClientSession(
        connector=connector, headers={"User-Agent": f"sms-delivery-exporter/{__version__}"}
    ) as session:
        await exporter.start(session)
        try:
            yield
        finally:
            await exporter.stop()


async def landing_page(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(account.provider.name)}</td></tr>"
        for name, account in sorted(exporter.config.accounts.items())
    )
    intake = (
        f"<li><code>POST {INTAKE_PATH}</code>: register sent messages</li>"
        if exporter.config.intake.enabled
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SMS delivery exporter</title></head>
<body>
<h1>SMS delivery exporter</h1>
<p>Version {html.escape(__version__)}.
Tells whether SMS and RCS messages are delivered, how fast, and why not.</p>
<ul>
<li><a href="/metrics">Metrics</a></li>
<li><a href="/-/healthy">Health</a>, <a href="/-/ready">Readiness</a></li>
{intake}
</ul>
<h2>Accounts</h2>
<table><tr><th>account</th><th>provider</th></tr>{rows}</table>
</body></html>
"""
    return web.Response(text=page, content_type="text/html")


async def metrics(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    await exporter.refresh_state()
    encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
    if content_type.startswith("text/plain"):
        # The outcome series (most of them) are rendered by the ledger itself, fast.
        body = encoder(exporter.operational) + exporter.ledger.render_text().encode()
    else:
        # OpenMetrics goes through prometheus_client, off the loop so that polling goes on.
        body = await asyncio.to_thread(encoder, exporter.registry)
    response = web.Response(body=body, headers={"Content-Type": content_type})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    exporter = request.app[EXPORTER]
    if exporter.ready and exporter.store.is_open:
        return web.Response(text="Ready.\n")
    return web.Response(
        status=503, text="Not ready: the store is not open or polling has not started.\n"
    )


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
                return _error(
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
            return _error(400, str(exc))
        try:
            result = await request.app[EXPORTER].intake.register(items)
        except IntakeRejected as rejected:
            return _error(
                400,
                f"{len(rejected.errors)} problem(s); nothing in this batch was registered",
                errors=[error.as_json() for error in rejected.errors],
            )
        return web.json_response(result.as_json(), status=202)


def _too_large(limit: int) -> web.Response:
    return _error(
        413, f"the body is larger than intake.max_body_bytes ({limit} bytes); split the batch"
    )


def _error(status: int, message: str, **extra: Any) -> web.Response:
    headers = extra.pop("headers", None)
    body: dict[str, Any] = {"error": message, **extra}
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )

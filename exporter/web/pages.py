"""The landing page, ``/metrics``, and the health and readiness probes."""

from __future__ import annotations

import html
from datetime import UTC, datetime

from aiohttp import web

from sms_delivery_exporter import __version__
from sms_delivery_exporter.config import Account
from sms_delivery_exporter.push.handshake import Handshake
from sms_delivery_exporter.web.keys import CONFIG, EXPOSITION, PUSH, READINESS, REFRESH
from sms_delivery_exporter.web.paths import (
    HEALTHY_PATH,
    INTAKE_PATH,
    METRICS_PATH,
    PUSH_PREFIX,
    READY_PATH,
)


async def landing_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    handshakes = request.app[PUSH].handshakes.latest
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(account.provider.name)}</td>"
        f"<td>{_push_cell(name, account, handshakes.get(name))}</td></tr>"
        for name, account in sorted(config.accounts.items())
    )
    intake = (
        f"<li><code>POST {INTAKE_PATH}</code>: register sent messages</li>"
        if config.intake.enabled
        else ""
    )
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>SMS delivery exporter</title></head>
<body>
<h1>SMS delivery exporter</h1>
<p>Version {html.escape(__version__)}.
Tells whether SMS and RCS messages are delivered, how fast, and why not.</p>
<ul>
<li><a href="{METRICS_PATH}">Metrics</a></li>
<li><a href="{HEALTHY_PATH}">Health</a>, <a href="{READY_PATH}">Readiness</a></li>
{intake}
</ul>
<h2>Accounts</h2>
<table><tr><th>account</th><th>provider</th><th>webhooks</th></tr>{rows}</table>
</body></html>
"""
    return web.Response(text=page, content_type="text/html")


async def metrics(request: web.Request) -> web.Response:
    await request.app[REFRESH]()
    body, content_type = request.app[EXPOSITION].render(request.headers.get("Accept", ""))
    response = web.Response(body=body, headers={"Content-Type": content_type})
    if "gzip" in request.headers.get("Accept-Encoding", ""):
        response.enable_compression(web.ContentCoding.gzip)
    return response


async def healthy(request: web.Request) -> web.Response:
    return web.Response(text="Healthy.\n")


async def ready(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.ready:
        return web.Response(text="Ready.\n")
    return web.Response(status=503, text=f"Not ready: {readiness.why_not()}.\n")


def _push_cell(name: str, account: Account, handshake: Handshake | None) -> str:
    """Where the account's webhooks go, and its last setup call (never its secret)."""
    if account.push is None:
        return "off (polled)"
    path = html.escape(PUSH_PREFIX + name)
    cell = f"<code>POST {path}</code>"
    if handshake is not None:
        when = datetime.fromtimestamp(handshake.received_at, UTC).isoformat(timespec="seconds")
        cell += f"<br>setup call received {html.escape(when)}: {html.escape(handshake.summary)}"
        if handshake.file is not None:
            cell += f"; its key is in <code>{html.escape(str(handshake.file))}</code>"
    return cell

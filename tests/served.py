"""The exporter served in-process exactly as the CLI serves it (safe handler, cap, web config)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sms_delivery_exporter.app import create_app
from sms_delivery_exporter.config import Config
from sms_delivery_exporter.testing import free_port
from sms_delivery_exporter.web.serving import ServerOptions, Serving, start
from tests.helpers import RunningExporter


@asynccontextmanager
async def served(
    config: Config, options: ServerOptions | None = None
) -> AsyncIterator[tuple[RunningExporter, Serving]]:
    """Start the exporter on a free loopback port; stop it on the way out."""
    app = create_app(config)
    serving = await start(app, config, "127.0.0.1", free_port(), options or ServerOptions())
    try:
        yield RunningExporter(app), serving
    finally:
        await serving.runner.cleanup()


async def raw_request(port: int, request: bytes, *, timeout: float = 10.0) -> bytes:
    """Send bytes as they are (no client library cleans them up) and read the whole answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(timeout):
            return await reader.read()
    finally:
        writer.close()

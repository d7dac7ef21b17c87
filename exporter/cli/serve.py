"""Running the exporter until SIGTERM, on the event loop chosen by ``--event-loop``."""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from sms_delivery_exporter.app import create_app
from sms_delivery_exporter.config import Config
from sms_delivery_exporter.process.event_loop import new_event_loop
from sms_delivery_exporter.process.gc_tuning import tune_gc
from sms_delivery_exporter.store import StoreError
from sms_delivery_exporter.web.listen import is_loopback


def exposure_problem(config: Config, host: str) -> str | None:
    """Why the intake must not be served on this address, if it must not."""
    intake = config.intake
    if not intake.enabled or is_loopback(host) or intake.token is not None or intake.auth == "none":
        return None
    return (
        f"the intake API would be open to the network on {host} without a token: set "
        "intake.token, or intake.auth: none to allow it, or listen on 127.0.0.1"
    )


def run_loop(work: Coroutine[Any, Any, int], loop_kind: str) -> int:
    """Run a command's coroutine on a fresh event loop of the kind asked for."""
    loop = new_event_loop(loop_kind)
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()


async def _tune_gc_after_start(app: web.Application) -> None:
    # Runs after the exporter has started (signal order), when start-up garbage is done with.
    tune_gc()


def serve(config: Config, host: str, port: int, loop_kind: str = "auto") -> int:
    """Serve until SIGTERM or SIGINT; 1 with a message when the store or the port is unusable."""
    app = create_app(config)
    app.on_startup.append(_tune_gc_after_start)
    try:
        web.run_app(
            app,
            host=host,
            port=port,
            print=None,
            access_log=None,
            shutdown_timeout=10,
            loop=new_event_loop(loop_kind),
        )
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    return 0

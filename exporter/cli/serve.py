"""Running the exporter until SIGTERM, on the event loop chosen by ``--event-loop``."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Coroutine
from typing import Any

from aiohttp import web

from sms_delivery_exporter.app import create_app
from sms_delivery_exporter.config import Config
from sms_delivery_exporter.process.event_loop import new_event_loop
from sms_delivery_exporter.process.gc_tuning import tune_gc
from sms_delivery_exporter.process.limits import raise_open_files_limit
from sms_delivery_exporter.store import StoreError
from sms_delivery_exporter.web.listen import is_loopback
from sms_delivery_exporter.web.serving import ServerOptions, start

log = logging.getLogger(__name__)

DESCRIPTORS_KEPT = 128
"""Descriptors left for the store, provider connections and the rest, beside client connections."""
STOP_TIMEOUT = 25.0
"""SIGTERM is done within this, whatever the store or the clients do."""


def exposure_problem(config: Config, host: str, *, tls: bool = False) -> str | None:
    """Why the intake or a webhook endpoint must not be served on this address as configured."""
    intake = config.intake
    if is_loopback(host):
        return None
    tokens = sorted(name for name, a in config.accounts.items() if a.push and a.push.token)
    if tokens and not tls and intake.require_tls:
        return (
            f"the push token of account {tokens[0]} would cross the network on {host} in clear"
            " (in its webhook URL): give a --web.config.file with tls_server_config, or set"
            " intake.require_tls: false (behind a TLS-terminating proxy), or listen on 127.0.0.1"
        )
    if not intake.enabled or intake.auth == "none":
        return None
    if intake.token is None:
        return (
            f"the intake API would be open to the network on {host} without a token: set "
            "intake.token, or intake.auth: none to allow it, or listen on 127.0.0.1"
        )
    if not tls and intake.require_tls:
        return (
            f"the intake token would cross the network on {host} in clear: give a"
            " --web.config.file with tls_server_config, or set intake.require_tls: false"
            " (behind a TLS-terminating proxy), or listen on 127.0.0.1"
        )
    return None


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


def serve(
    config: Config,
    host: str,
    port: int,
    loop_kind: str = "auto",
    options: ServerOptions | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; 1 with a message when the store or the port is unusable."""
    options = options or ServerOptions()
    descriptors = raise_open_files_limit()
    if options.max_connections > descriptors - DESCRIPTORS_KEPT:
        capped = max(1, descriptors - DESCRIPTORS_KEPT)
        log.warning(
            "--web.max-connections lowered to fit the open-file limit",
            extra={"asked": options.max_connections, "cap": capped, "limit": descriptors},
        )
        options = ServerOptions(options.web, capped, options.idle_timeout, options.shutdown_timeout)
    loop = new_event_loop(loop_kind)
    try:
        return loop.run_until_complete(_serve(config, host, port, options))
    finally:
        _cancel_leftovers(loop)
        loop.close()


async def _serve(config: Config, host: str, port: int, options: ServerOptions) -> int:
    app = create_app(config)
    app.on_startup.append(_tune_gc_after_start)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        serving = await start(app, config, host, port, options)
    except StoreError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"error: cannot listen on {host}:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    await stop.wait()
    log.info("stopping")
    try:
        await asyncio.wait_for(serving.runner.cleanup(), STOP_TIMEOUT)
    except TimeoutError:
        log.error("stopping took too long; exiting anyway", extra={"seconds": STOP_TIMEOUT})
        return 1
    return 0


def _cancel_leftovers(loop: asyncio.AbstractEventLoop) -> None:
    tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
    loop.run_until_complete(loop.shutdown_asyncgens())

"""The command line: run the exporter, check a config, register refs, run the demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from sms_delivery_exporter import __version__
from sms_delivery_exporter.config import Config, ConfigError, load_config
from sms_delivery_exporter.durations import format_duration
from sms_delivery_exporter.event_loop import CHOICES, new_event_loop
from sms_delivery_exporter.listen import DEFAULT_LISTEN_ADDRESS, is_loopback, parse_listen_address
from sms_delivery_exporter.logging_setup import LEVELS, setup_logging
from sms_delivery_exporter.plugin_manager import PluginError, collect_providers, make_plugin_manager
from sms_delivery_exporter.process_tuning import tune_gc
from sms_delivery_exporter.provider import ProviderClass
from sms_delivery_exporter.store import StoreError


def _add_common_flags(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Flags valid before or after a subcommand (``demo --web.listen-address ...``)."""

    def default(value: object) -> object:
        # Subcommand parsers must not overwrite a value given before the subcommand.
        return value if defaults else argparse.SUPPRESS

    parser.add_argument(
        "--config.file",
        dest="config_file",
        type=Path,
        default=default(Path("config.yaml")),
        help="YAML config (default: config.yaml)",
    )
    parser.add_argument(
        "--web.listen-address",
        dest="listen",
        default=default(DEFAULT_LISTEN_ADDRESS),
        help=f"address of the web server (default: {DEFAULT_LISTEN_ADDRESS})",
    )
    parser.add_argument("--log.level", dest="log_level", choices=LEVELS, default=default("info"))
    parser.add_argument(
        "--log.format", dest="log_format", choices=("logfmt", "json"), default=default("logfmt")
    )
    parser.add_argument(
        "--event-loop",
        dest="event_loop",
        choices=CHOICES,
        default=default("auto"),
        help="auto (uvloop when installed), uvloop or asyncio (default: auto)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sms-delivery-exporter",
        description="Prometheus exporter for SMS and RCS delivery across providers.",
    )
    _add_common_flags(parser, defaults=True)
    parser.add_argument(
        "--config.check",
        dest="config_check",
        action="store_true",
        help="validate the config, print a summary, and exit",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command")
    track = commands.add_parser(
        "track", help="register refs with the running exporter (JSON, JSON array or NDJSON)"
    )
    _add_common_flags(track, defaults=False)
    track.add_argument("--account", required=True, help="account of items that name none")
    track.add_argument("file", help="file of refs, or - for standard input")
    track.add_argument("--batch", type=int, default=1000, help="items per request")
    demo = commands.add_parser("demo", help="run the exporter against built-in provider simulators")
    _add_common_flags(demo, defaults=False)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        providers = collect_providers(make_plugin_manager())
    except PluginError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        host, port = parse_listen_address(args.listen)
    except ValueError as exc:
        print(f"error: --web.listen-address: {exc}", file=sys.stderr)
        return 1
    if args.command == "demo":
        from sms_delivery_exporter.demo import run_demo

        return _run(run_demo(providers, host, port), args.event_loop)
    try:
        config = load_config(args.config_file, providers)
    except ConfigError as exc:
        print(f"{args.config_file}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    if args.config_check:
        print(summary(args.config_file, config, providers))
        return 0
    if args.command == "track":
        from sms_delivery_exporter.track import read_source, track

        try:
            raw = read_source(args.file)
        except OSError as exc:
            print(f"error: {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
        return asyncio.run(track(config, host, port, args.account, args.file, raw, args.batch))
    exposed = exposure_problem(config, host)
    if exposed:
        print(f"error: {exposed}", file=sys.stderr)
        return 1
    return serve(config, host, port, args.event_loop)


def exposure_problem(config: Config, host: str) -> str | None:
    """Why the intake must not be served on this address, if it must not."""
    intake = config.intake
    if not intake.enabled or is_loopback(host) or intake.token is not None or intake.auth == "none":
        return None
    return (
        f"the intake API would be open to the network on {host} without a token: set "
        "intake.token, or intake.auth: none to allow it, or listen on 127.0.0.1"
    )


def _run(work: Coroutine[Any, Any, int], loop_kind: str) -> int:
    loop = new_event_loop(loop_kind)
    try:
        return loop.run_until_complete(work)
    finally:
        loop.close()


async def _tune_gc_after_start(app: web.Application) -> None:
    # Runs after the exporter has started (signal order), when start-up garbage is done with.
    tune_gc()


def serve(config: Config, host: str, port: int, loop_kind: str = "auto") -> int:
    from sms_delivery_exporter.runtime import Exporter
    from sms_delivery_exporter.web import create_app

    app = create_app(Exporter(config))
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


def summary(path: Path, config: Config, providers: dict[str, ProviderClass]) -> str:
    lines = [
        f"{path}: OK",
        f"store: {config.store.path} (retention {format_duration(config.store.retention)})",
        "intake: "
        + (
            f"enabled, auth {'token' if config.intake.token else config.intake.auth}"
            if config.intake.enabled
            else "disabled"
        ),
        f"accounts ({len(config.accounts)}):",
    ]
    for name, account in sorted(config.accounts.items()):
        settings = account.settings
        lines.append(
            f"  {name}: provider {account.provider.name}, {settings.rate_limit:g} req/s, "
            f"concurrency {settings.concurrency}, tracking window "
            f"{format_duration(settings.schedule.tracking_window)}"
        )
    lines.append(f"known providers: {', '.join(sorted(providers))}")
    return "\n".join(lines)

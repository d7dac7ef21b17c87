"""The command line's flags, in the style of Prometheus exporters (``--config.file``...)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sms_delivery_exporter import __version__
from sms_delivery_exporter.process.event_loop import CHOICES
from sms_delivery_exporter.process.logs import LEVELS
from sms_delivery_exporter.web.listen import DEFAULT_LISTEN_ADDRESS
from sms_delivery_exporter.web.serving import DEFAULT_IDLE_TIMEOUT, DEFAULT_MAX_CONNECTIONS


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        value = kind(text)
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text} is not a positive number")
        return value

    return parse


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
    parser.add_argument(
        "--web.config.file",
        dest="web_config_file",
        type=Path,
        default=None,
        help="TLS, client certificates and basic auth (exporter-toolkit format)",
    )
    parser.add_argument(
        "--web.max-connections",
        dest="max_connections",
        type=_positive(int),
        default=DEFAULT_MAX_CONNECTIONS,
        help="open connections at most; beyond, the longest idle one is closed"
        f" (default: {DEFAULT_MAX_CONNECTIONS})",
    )
    parser.add_argument(
        "--web.idle-timeout",
        dest="idle_timeout",
        type=_positive(float),
        default=DEFAULT_IDLE_TIMEOUT,
        help="seconds a connection may stay without a complete request"
        f" (default: {DEFAULT_IDLE_TIMEOUT:g})",
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

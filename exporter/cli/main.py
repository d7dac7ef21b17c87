"""``sms-delivery-exporter``: parse the flags, load the plugins and the config, run a command."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sms_delivery_exporter.cli.flags import build_parser
from sms_delivery_exporter.cli.serve import exposure_problem, run_loop, serve
from sms_delivery_exporter.cli.summary import summary
from sms_delivery_exporter.config import ConfigError, load_config
from sms_delivery_exporter.plugin_host import PluginError, collect_providers, make_plugin_manager
from sms_delivery_exporter.process.logs import setup_logging
from sms_delivery_exporter.web.listen import parse_listen_address
from sms_delivery_exporter.web.serving import ServerOptions
from sms_delivery_exporter.web.web_config import WebConfig, WebConfigError, load_web_config


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
        from sms_delivery_exporter.cli.demo import run_demo

        return run_loop(run_demo(providers, host, port), args.event_loop)
    try:
        config = load_config(args.config_file, providers)
    except ConfigError as exc:
        print(f"{args.config_file}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    web_config = WebConfig()
    if args.web_config_file is not None:
        try:
            web_config = load_web_config(args.web_config_file)
        except WebConfigError as exc:
            print(f"{args.web_config_file}: {len(exc.problems)} problem(s):", file=sys.stderr)
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
            return 1
    exposed = exposure_problem(config, host, tls=web_config.tls)
    if args.config_check:
        if exposed:
            # The run would refuse it: so does the check (with the same flags).
            print(
                f"{args.config_file}: refused with --web.listen-address {args.listen}:",
                file=sys.stderr,
            )
            print(f"  {exposed}", file=sys.stderr)
            return 1
        print(summary(args.config_file, config, providers, web_config))
        return 0
    if args.command == "track":
        from sms_delivery_exporter.cli.track import read_source, track

        try:
            raw = read_source(args.file)
        except OSError as exc:
            print(f"error: {args.file}: {exc.strerror}", file=sys.stderr)
            return 1
        return run_loop(
            track(config, host, port, args.account, args.file, raw, args.batch), "asyncio"
        )
    if exposed:
        print(f"error: {exposed}", file=sys.stderr)
        return 1
    options = ServerOptions(web_config, args.max_connections, args.idle_timeout)
    return serve(config, host, port, args.event_loop, options)

"""``python -m monitoring``: write the rules and dashboards, or check that they are current."""

from __future__ import annotations

import argparse
import sys
from fractions import Fraction
from pathlib import Path

from monitoring.build import ROOT, outputs
from monitoring.settings import Settings


def parse(argv: list[str]) -> argparse.Namespace:
    defaults = Settings()
    parser = argparse.ArgumentParser(prog="python -m monitoring", description=__doc__)
    parser.add_argument("--job-selector", default=defaults.job_selector)
    parser.add_argument("--grafana-url", default=defaults.grafana_url)
    parser.add_argument("--runbook-url", default=defaults.runbook_url)
    parser.add_argument("--default-objective", type=float, default=defaults.default_objective)
    parser.add_argument(
        "--scale",
        type=Fraction,
        default=Fraction(1),
        help="multiply every window and duration, e.g. 1/30 for a fast end-to-end test",
    )
    parser.add_argument("--out", type=Path, default=ROOT, help="root of the files written")
    parser.add_argument(
        "--check", action="store_true", help="write nothing; exit 1 if a file differs"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    settings = Settings(
        job_selector=args.job_selector,
        grafana_url=args.grafana_url,
        runbook_url=args.runbook_url,
        default_objective=args.default_objective,
        scale=float(args.scale),
    )
    stale = []
    for relative, text in outputs(settings).items():
        path = args.out / relative
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(relative)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    for relative in stale:
        print(f"{relative} differs from the builder: run make monitoring", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())

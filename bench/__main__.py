"""``python -m bench [name,...]``: run benchmarks; their figures go into bench/last-run.json."""

from __future__ import annotations

import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import (
    discovery,
    economy,
    fairness,
    hostile,
    intake,
    push,
    replicas,
    scale,
    scrape,
    throughput,
)

BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "throughput": throughput.run,
    "scale": scale.run,
    "intake": intake.run,
    "scrape": scrape.run,
    "economy": economy.run,
    "fairness": fairness.run,
    "hostile": hostile.run,
    "replicas": replicas.run,
    "push": push.run,
    "discovery": discovery.run,
}


def machine() -> dict[str, Any]:
    cpus = sum(
        1 for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("processor")
    )
    memory = next(
        line
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "python": platform.python_version(),
        "cpus": cpus,
        "memory": memory.split(":")[1].strip(),
        "kernel": platform.release(),
    }


def main(argv: list[str]) -> int:
    names = [n for arg in argv for n in arg.split(",") if n] or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(
            f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}",
            file=sys.stderr,
        )
        return 2
    out = Path(__file__).resolve().parent / "last-run.json"
    # Figures of benchmarks not run this time are kept from earlier runs.
    results: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
    results |= {"date": time.strftime("%Y-%m-%d"), "machine": machine()}
    for name in names:
        print(f"running {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        results[name] = BENCHMARKS[name]()
        results[name]["bench_seconds"] = round(time.monotonic() - started, 1)
        print(json.dumps({name: results[name]}, indent=2), flush=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

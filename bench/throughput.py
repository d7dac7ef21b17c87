"""Poll throughput: the exporter's whole poll path against a bare aiohttp loop, same endpoint.

The whole path: due refs out of SQLite, the rate limiter, the request, JSON
parsing, the state change, the batched commit, the metrics. Both run as their
own process against the same load server with the same concurrency. They take
turns in five short rounds (the exporter is stopped with SIGSTOP while the bare
loop runs), so that both see the same machine; the figure is the median of
the per-round ratios.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import (
    exporter,
    fill_store,
    load_server,
    polls_per_second,
    write_config,
)

REFS = 10_000
CONCURRENCY = 32
ROUNDS = 5


def bare_rate(server: str, loop: str, seconds: float) -> float:
    """Requests per second of the bare loop, measured after its first second."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.bare",
            server,
            "--ids",
            str(REFS),
            "--concurrency",
            str(CONCURRENCY),
            "--duration",
            str(seconds + 1.5),
            "--loop",
            loop,
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        time.sleep(1.0)
        return polls_per_second(server, seconds)
    finally:
        proc.wait(timeout=60)


def compare(workdir: Path, server: str, loop: str, seconds: float) -> dict[str, Any]:
    fill_store(workdir / "store.db", REFS)
    config = write_config(workdir, server, concurrency=CONCURRENCY)
    rounds = []
    with exporter(workdir, config, loop) as (_, proc, _):
        time.sleep(2.0)  # warm-up: connections, caches
        for _ in range(ROUNDS):
            os.kill(proc.pid, signal.SIGSTOP)
            try:
                bare = bare_rate(server, loop, seconds)
            finally:
                os.kill(proc.pid, signal.SIGCONT)
            time.sleep(1.0)
            ours = polls_per_second(server, seconds)
            rounds.append((bare, ours))
    ratios = [ours / bare for bare, ours in rounds]
    return {
        "bare_rps": round(statistics.median(b for b, _ in rounds)),
        "exporter_rps": round(statistics.median(o for _, o in rounds)),
        "ratio": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
    }


def run(seconds: float = 4.0) -> dict[str, Any]:
    results: dict[str, Any] = {"refs": REFS, "concurrency": CONCURRENCY, "rounds": ROUNDS}
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        workdir = Path(tmp)
        with load_server(workdir) as server:
            for loop in ("asyncio", "uvloop"):
                run_dir = workdir / loop
                run_dir.mkdir()
                results[loop] = compare(run_dir, server, loop, seconds)
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""Poll throughput: the exporter's whole poll path against a bare aiohttp loop, same endpoint.

The whole path: due refs out of SQLite, the rate limiter, the request, JSON
parsing, the state change, the batched commit, the metrics. Both run as their
own process against the same load server, with the same concurrency, one
after the other, under each event loop.
"""

from __future__ import annotations

import json
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
    server_requests,
    write_config,
)

REFS = 10_000
CONCURRENCY = 32
WARMUP = 3.0


def exporter_rate(workdir: Path, server: str, loop: str, seconds: float) -> float:
    fill_store(workdir / "store.db", REFS)
    config = write_config(workdir, server, concurrency=CONCURRENCY)
    with exporter(workdir, config, loop):
        time.sleep(WARMUP)
        return polls_per_second(server, seconds)


def bare_rate(server: str, loop: str, seconds: float) -> float:
    before = server_requests(server)
    started = time.monotonic()
    subprocess.run(
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
            str(seconds + WARMUP),
            "--loop",
            loop,
        ],
        check=True,
        capture_output=True,
    )
    # Whole run including its warm-up: the bare loop has no start-up worth excluding.
    return (server_requests(server) - before) / (time.monotonic() - started)


def run(seconds: float = 10.0) -> dict[str, Any]:
    results: dict[str, Any] = {"refs": REFS, "concurrency": CONCURRENCY, "seconds": seconds}
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp:
        workdir = Path(tmp)
        with load_server(workdir) as server:
            for loop in ("asyncio", "uvloop"):
                bare = bare_rate(server, loop, seconds)
                run_dir = workdir / loop
                run_dir.mkdir()
                ours = exporter_rate(run_dir, server, loop, seconds)
                results[loop] = {
                    "bare_rps": round(bare),
                    "exporter_rps": round(ours),
                    "ratio": round(ours / bare, 3),
                }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

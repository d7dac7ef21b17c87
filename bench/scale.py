"""Scale: polls per second, resident memory and start-up with 10,000 to 1,000,000 refs tracked.

Every ref is due all the time (its interval is a millisecond), so the
exporter polls as fast as it can while the store grows; a million refs cost
rows in SQLite, not objects in memory.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import exporter, fill_store, load_server, polls_per_second, rss_mb, write_config

SIZES = (10_000, 100_000, 1_000_000)
CONCURRENCY = 32


def run(seconds: float = 5.0, sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    results: dict[str, Any] = {"concurrency": CONCURRENCY}
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        workdir = Path(tmp)
        with load_server(workdir) as server:
            for size in sizes:
                run_dir = workdir / str(size)
                run_dir.mkdir()
                filled = time.monotonic()
                fill_store(run_dir / "store.db", size)
                fill_seconds = time.monotonic() - filled
                config = write_config(run_dir, server, concurrency=CONCURRENCY)
                with exporter(run_dir, config) as (_, proc, startup):
                    time.sleep(2.0)  # warm-up
                    rate = polls_per_second(server, seconds)
                    memory = rss_mb(proc.pid)
                results[str(size)] = {
                    "polls_per_second": round(rate),
                    "rss_mb": round(memory, 1),
                    "startup_seconds": round(startup, 2),
                    "store_fill_seconds": round(fill_seconds, 1),
                }
    first, last = str(sizes[0]), str(sizes[-1])
    results["ratio_largest_to_smallest"] = round(
        results[last]["polls_per_second"] / results[first]["polls_per_second"], 3
    )
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

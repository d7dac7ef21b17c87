"""Scrape: /metrics with about 10,000 series, while the exporter keeps polling.

Application labels make the series: 130 combinations of two labels, each
zero-initialised across every outcome series of the account. The render time
is measured by the client; polls per second without scrapes, with a scrape
every second, and with scrapes back to back show that polling goes on meanwhile.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import ACCOUNT, exporter, fill_store, load_server, polls_per_second, write_config

TEAMS, PURPOSES = 13, 10
SCRAPES = 30


def scrape(url: str) -> tuple[float, int]:
    started = time.monotonic()
    with urllib.request.urlopen(f"{url}/metrics", timeout=30) as response:
        text = response.read().decode()
    elapsed = time.monotonic() - started
    return elapsed, sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def register_label_sets(url: str) -> None:
    items = [
        {
            "account": ACCOUNT,
            "id": f"10000000-0000-4000-8000-{n:012d}",
            "labels": {"team": f"t{n % TEAMS}", "purpose": f"p{n // TEAMS}"},
        }
        for n in range(TEAMS * PURPOSES)
    ]
    request = urllib.request.Request(
        f"{url}/api/v1/messages",
        data=json.dumps(items).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def run(seconds: float = 5.0) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-scrape-") as tmp:
        workdir = Path(tmp)
        with load_server(workdir) as server:
            fill_store(workdir / "store.db", 10_000)
            intake = {"labels": {"keys": ["team", "purpose"], "max_values_per_key": 100}}
            config = write_config(workdir, server, concurrency=32, intake=intake)
            with exporter(workdir, config) as (url, _, _):
                register_label_sets(url)
                time.sleep(2.0)  # warm-up
                quiet = polls_per_second(server, seconds)
                timings: list[float] = []
                series = 0

                def keep_scraping(stop: threading.Event, every: float) -> None:
                    nonlocal series
                    while not stop.is_set():
                        elapsed, series = scrape(url)
                        timings.append(elapsed)
                        stop.wait(max(0.0, every - elapsed))

                rates = {}
                for mode, every in (("every_second", 1.0), ("back_to_back", 0.0)):
                    stop = threading.Event()
                    scraper = threading.Thread(target=keep_scraping, args=(stop, every))
                    scraper.start()
                    rates[mode] = polls_per_second(server, seconds)
                    stop.set()
                    scraper.join()
    return {
        "series": series,
        "scrapes": len(timings),
        "render_ms_median": round(statistics.median(timings) * 1000, 1),
        "render_ms_p95": round(statistics.quantiles(timings, n=20)[-1] * 1000, 1),
        "polls_per_second_without_scrapes": round(quiet),
        "polls_per_second_scraped_every_second": round(rates["every_second"]),
        "polls_per_second_scraped_back_to_back": round(rates["back_to_back"]),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

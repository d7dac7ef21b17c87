"""Hostile intake bodies of the maximum size (16 MiB): how long the answer takes, how much
memory the exporter takes on top of its idle baseline, and whether ``/-/healthy`` keeps
answering meanwhile (the longest wait of a probe sent every 20 ms during the request).
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from bench.common import exporter, write_config

MAX_BODY = 16 * 1024 * 1024
NDJSON = "application/x-ndjson"


def bodies() -> dict[str, tuple[bytes, str]]:
    item = b'{"account":"bench","id":"00000000-0000-4000-8000-000000000001"}'
    return {
        "8M lines of 1 (NDJSON)": (b"1\n" * (MAX_BODY // 2), NDJSON),
        "5.6M empty objects (JSON array)": (b"[" + b"{}," * (MAX_BODY // 3 - 1) + b"{}]", ""),
        "260k valid items (JSON array)": (
            b"[" + b",".join([item] * (MAX_BODY // (len(item) + 1) - 1)) + b"]",
            "application/json",
        ),
        "8M levels of nesting": (b"[" * (MAX_BODY // 2) + b"]" * (MAX_BODY // 2), ""),
        "one 16 MiB string": (b'{"account":"' + b"x" * (MAX_BODY - 20) + b'"}', ""),
        "16M blank lines (NDJSON)": (b"\n" * MAX_BODY, NDJSON),
        # At the item cap, each item refused by validation (an id that is no UUID, padded).
        "10,000 invalid items, 1.6 KB each (NDJSON)": (
            b"\n".join(b'{"account":"bench","id":"' + b"z" * 1600 + b'"}' for _ in range(10_000)),
            NDJSON,
        ),
    }


def memory(pid: int) -> tuple[float, float]:
    """(resident, peak resident) in MB."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def reset_peak(pid: int) -> None:
    """Start the peak from now (Linux: writing 5 to clear_refs resets VmHWM)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def probe(url: str, stop: threading.Event, waits: list[float]) -> None:
    while not stop.is_set():
        started = time.monotonic()
        try:
            with urllib.request.urlopen(f"{url}/-/healthy", timeout=30) as response:
                response.read()
        except OSError:
            pass
        waits.append(time.monotonic() - started)
        stop.wait(0.02)


def post(url: str, body: bytes, content_type: str) -> tuple[int, int]:
    request = urllib.request.Request(
        f"{url}/api/v1/messages",
        data=body,
        headers={"Content-Type": content_type or "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, len(response.read())
    except urllib.error.HTTPError as error:
        return error.code, len(error.read())


def run() -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-hostile-") as tmp:
        workdir = Path(tmp)
        config = write_config(
            workdir, "http://127.0.0.1:9", concurrency=1, schedule={"first_poll": "1h"}
        )
        with exporter(workdir, config) as (url, process, _):
            time.sleep(1.0)  # settle after start
            idle, _ = memory(process.pid)
            results["idle_resident_mb"] = round(idle, 1)
            for name, (body, content_type) in bodies().items():
                baseline, _ = memory(process.pid)
                reset_peak(process.pid)
                stop, waits = threading.Event(), []  # type: ignore[var-annotated]
                prober = threading.Thread(target=probe, args=(url, stop, waits))
                prober.start()
                started = time.monotonic()
                status, answer_bytes = post(url, body, content_type)
                elapsed = time.monotonic() - started
                stop.set()
                prober.join()
                after, peak = memory(process.pid)
                results[name] = {
                    "status": status,
                    "answer_bytes": answer_bytes,
                    "seconds": round(elapsed, 3),
                    "peak_above_baseline_mb": round(peak - baseline, 1),
                    "resident_after_mb": round(after, 1),
                    "healthy_probes": len(waits),
                    "healthy_longest_wait_s": round(max(waits, default=0.0), 3),
                }
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

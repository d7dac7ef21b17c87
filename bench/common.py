"""What the benchmarks share: processes on loopback, a store filled fast, measurements."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from bench.server import API_KEY
from sms_delivery_exporter.store import SqliteStore
from sms_delivery_exporter.testing import free_port

ACCOUNT = "bench"


def message_ids(count: int) -> list[str]:
    """The same ids in every process: the exporter's refs and the bare loop's requests."""
    return [str(uuid.UUID(int=n + 1, version=4)) for n in range(count)]


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def wait_until_up(url: str, timeout: float = 60.0) -> float:
    """Seconds until ``url`` answers 200 (a deadline, not a fixed sleep)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up in {timeout}s")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


@contextmanager
def process(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            args,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**(env or os.environ), "PYTHONUNBUFFERED": "1"},
        )
    try:
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def load_server(workdir: Path, loop: str = "uvloop", *, final: bool = False) -> Iterator[str]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "bench.server", "--port", str(port), "--loop", loop]
    with process([*args, *(["--final"] if final else [])], workdir / f"server-{port}.log"):
        wait_until_up(f"{url}/_sim/stats")
        yield url


def server_requests(url: str) -> int:
    return int(get_json(f"{url}/_sim/stats")["requests"])


def fill_store(path: Path, count: int, *, due_at: float = 0.0) -> None:
    """``count`` refs of the bench account, all due; bulk SQL, as fast as SQLite goes."""
    asyncio.run(_create_schema(path))
    db = sqlite3.connect(path)
    now = time.time()
    rows = ((ACCOUNT, f'{{"id":"{ref}"}}', "", now, now, due_at) for ref in message_ids(count))
    with db:
        db.executemany(
            "INSERT INTO refs (account, ref_key, labels, submitted_at, tracked_at, next_poll_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            rows,
        )
        db.execute(
            "INSERT INTO series (name, labels, value) VALUES (?, ?, ?)",
            (
                "sms_messages_in_flight",
                json.dumps({"provider": "namirial", "account": ACCOUNT, "status": "pending"}),
                count,
            ),
        )
    db.close()


async def _create_schema(path: Path) -> None:
    store = SqliteStore(path, synchronous="normal")
    await store.open()
    await store.close()


def write_config(
    workdir: Path,
    server_url: str,
    *,
    concurrency: int,
    schedule: dict[str, Any] | None = None,
    intake: dict[str, Any] | None = None,
    store: dict[str, Any] | None = None,
) -> Path:
    document: dict[str, Any] = {
        "store": store or {"path": str(workdir / "store.db")},
        "accounts": {
            ACCOUNT: {
                "provider": "namirial",
                "base_url": server_url,
                "api_key": API_KEY,
                "rate_limit": 1_000_000,
                "burst": 1000,
                "concurrency": concurrency,
                "timeout": "10s",
                # Due again a millisecond after each poll: the exporter polls as fast as it can.
                "schedule": schedule
                or {
                    "first_poll": "0s",
                    "initial_interval": "1ms",
                    "growth": 1,
                    "max_interval": "1ms",
                },
            }
        },
    }
    if intake is not None:
        document["intake"] = intake
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def exporter(
    workdir: Path, config: Path, loop: str = "auto"
) -> Iterator[tuple[str, subprocess.Popen[bytes], float]]:
    """The exporter through its CLI: (URL, process, seconds from start to ready)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    args = [
        sys.executable,
        "-m",
        "sms_delivery_exporter",
        "--config.file",
        str(config),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log.level",
        "warn",
        "--event-loop",
        loop,
    ]
    started = time.monotonic()
    with process(args, workdir / "exporter.log") as proc:
        wait_until_up(f"{url}/-/ready", timeout=120)
        yield url, proc, time.monotonic() - started


def polls_per_second(server_url: str, seconds: float) -> float:
    """Requests the load server answered per second over a window."""
    before = server_requests(server_url)
    started = time.monotonic()
    time.sleep(seconds)
    return (server_requests(server_url) - before) / (time.monotonic() - started)

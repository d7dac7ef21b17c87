"""Webhooks: events acknowledged per second after a durable commit, and event to /metrics.

1. Throughput: Namirial ``STATUS_UPDATE`` calls, one event each (the hardest
   case: ENS batches up to 1,000 events in one call), posted by
   ``bench/push_load.py`` with 128 connections, to the exporter (each 200
   after the event is committed with ``synchronous=full``, the event then
   applied to its registered ref) and to ``bench/push_bare.py``, a bare aiohttp
   handler that only reads the body, in turns (the other one frozen with
   SIGSTOP), three rounds of 4 s; the figure is the median ratio of the rounds.
2. Latency: the simulator's events posted at 1,000 a second for 20 s, and
   ``/metrics`` scraped every 20 ms: for the k-th event, the time from its
   post to the first scrape counting k final messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bench.common import ACCOUNT, exporter, fill_store, message_ids, process, wait_until_up
from sms_delivery_exporter.testing import Scenario, SimMessage, free_port
from sms_delivery_providers.namirial.simulator import NamirialSimulator

TOKEN = "bench-push-token-0123456789abcdef"  # noqa: S105 - a benchmark's own token
ROUNDS = 3
ROUND_SECONDS = 4.0
CONCURRENCY = 128
REFS = 150_000
RATE = 1_000
LATENCY_SECONDS = 20
SCRAPE_EVERY = 0.02
CREATED_EVERY = 1e-4
"""Seconds between two events' creation in the throughput run's bodies (10,000 a second)."""
_FINAL = re.compile(rb"^sms_messages_final_total\{[^}]*\} (\S+)$", re.MULTILINE)


def _simulator() -> NamirialSimulator:
    return NamirialSimulator(api_key="unused", scenario=Scenario(), log_requests=False)


def _body(simulator: NamirialSimulator, message_id: str, now: float) -> bytes:
    """The simulator's STATUS_UPDATE for a message delivered now (created now, to the
    millisecond, as the simulator's and Namirial's own)."""
    message = SimMessage(message_id, now - 2, "sms", 1, [(now - 2, "queued"), (now, "delivered")])
    event = {
        "id": f"event-{message_id}",
        "webhookConfigurationId": "bench",
        "type": "STATUS_UPDATE",
        "createdAt": datetime.fromtimestamp(now, UTC).isoformat(timespec="milliseconds"),
        "message": simulator.render(message, at=now),
    }
    return json.dumps(event).encode()


def stream(simulator: NamirialSimulator, ids: list[str], end: float) -> bytes:
    """The calls of these messages' deliveries as lines: a provider's stream, each event
    created :data:`CREATED_EVERY` after the one before, posted in that order, up to ``end``."""
    start = end - len(ids) * CREATED_EVERY
    return b"\n".join(_body(simulator, i, start + k * CREATED_EVERY) for k, i in enumerate(ids))


def _config(workdir: Path) -> Path:
    document = {
        "store": {"path": str(workdir / "store.db")},
        "accounts": {
            ACCOUNT: {
                "provider": "namirial",
                "base_url": "http://127.0.0.1:9",  # never polled: the safety net is an hour away
                "api_key": "unused",
                "push": {"token": TOKEN, "safety_net": {"first_poll": "1h"}},
            }
        },
    }
    path = workdir / "config.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


@contextmanager
def _frozen(proc: subprocess.Popen[bytes]) -> Any:
    proc.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        proc.send_signal(signal.SIGCONT)


def _load(url: str, bodies: Path) -> dict[str, Any]:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.push_load",
            url,
            str(bodies),
            "--concurrency",
            str(CONCURRENCY),
            "--duration",
            str(ROUND_SECONDS),
        ],
        capture_output=True,
        check=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    counts: dict[str, Any] = json.loads(result.stdout)
    return counts


def throughput(workdir: Path) -> dict[str, Any]:
    ids = message_ids(REFS)
    fill_store(workdir / "store.db", REFS, due_at=time.time() + 3600)
    simulator, now = _simulator(), time.time()
    share = REFS // ROUNDS
    files = []
    for number in range(ROUNDS):
        path = workdir / f"bodies-{number}.ndjson"
        path.write_bytes(stream(simulator, ids[number * share :][:share], now))
        files.append(path)
    bare_port = free_port()
    bare_url = f"http://127.0.0.1:{bare_port}"
    rounds: list[dict[str, Any]] = []
    bare_args = [sys.executable, "-m", "bench.push_bare", "--port", str(bare_port)]
    with process(bare_args, workdir / "bare.log") as bare:
        wait_until_up(f"{bare_url}/-/ready")
        with exporter(workdir, _config(workdir)) as (url, proc, _):
            for number in range(ROUNDS):
                with _frozen(proc):
                    plain = _load(f"{bare_url}/api/v1/push/{ACCOUNT}", files[number])
                with _frozen(bare):
                    ours = _load(f"{url}/api/v1/push/{ACCOUNT}?token={TOKEN}", files[number])
                rounds.append(
                    {
                        "bare": round(plain["ok"] / plain["seconds"]),
                        "exporter": round(ours["ok"] / ours["seconds"]),
                        "refused": ours["other"],
                    }
                )
            accepted = sum(r["exporter"] for r in rounds)
            applied = asyncio.run(_finals(url))
    ratios = [r["exporter"] / r["bare"] for r in rounds]
    return {
        "rounds": rounds,
        "ratio_median": round(statistics.median(ratios), 3),
        "ratios": [round(r, 3) for r in ratios],
        "events_per_second_median": statistics.median(r["exporter"] for r in rounds),
        "bare_per_second_median": statistics.median(r["bare"] for r in rounds),
        "applied_when_measured": applied,
        "acknowledged_rate_sum": accepted,
    }


async def _finals(url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/metrics") as response:
        return sum(float(v) for v in _FINAL.findall(await response.read()))


async def _latency_run(url: str, ids: list[str]) -> dict[str, Any]:
    simulator = _simulator()
    sent: list[float] = []
    scrapes: list[tuple[float, float]] = []
    done = asyncio.Event()
    limit = asyncio.Semaphore(128)
    push_url = f"{url}/api/v1/push/{ACCOUNT}?token={TOKEN}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as session:

        async def scrape() -> None:
            while not done.is_set():
                async with session.get(f"{url}/metrics") as response:
                    counted = sum(float(v) for v in _FINAL.findall(await response.read()))
                scrapes.append((time.monotonic(), counted))
                if counted >= len(ids):
                    done.set()
                await asyncio.sleep(SCRAPE_EVERY)

        async def post(body: bytes) -> None:
            async with session.post(push_url, data=body) as response:
                await response.read()
                assert response.status == 200, response.status
            limit.release()

        scraper = asyncio.create_task(scrape())
        started = time.monotonic()
        posts = []
        for k, message_id in enumerate(ids):
            target = started + k / RATE
            delay = target - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            body = _body(simulator, message_id, time.time())
            await limit.acquire()
            sent.append(time.monotonic())
            posts.append(asyncio.create_task(post(body)))
        await asyncio.gather(*posts)
        achieved = len(ids) / (time.monotonic() - started)
        await asyncio.wait_for(done.wait(), 60)
        await scraper
    latencies = []
    position = 0
    for k, when in enumerate(sent):
        while scrapes[position][1] < k + 1:
            position += 1
        latencies.append(max(scrapes[position][0] - when, 0.0))
    latencies.sort()
    return {
        "events": len(ids),
        "rate_asked": RATE,
        "rate_achieved": round(achieved),
        "scrape_every_ms": SCRAPE_EVERY * 1000,
        "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
        "p99_ms": round(1000 * latencies[int(len(latencies) * 0.99)], 1),
        "max_ms": round(1000 * latencies[-1], 1),
    }


def latency(workdir: Path) -> dict[str, Any]:
    count = RATE * LATENCY_SECONDS
    fill_store(workdir / "store.db", count, due_at=time.time() + 3600)
    with exporter(workdir, _config(workdir)) as (url, _, _):
        return asyncio.run(_latency_run(url, message_ids(count)))


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-push-") as tmp:
        first, second = Path(tmp) / "throughput", Path(tmp) / "latency"
        first.mkdir()
        second.mkdir()
        return {"throughput": throughput(first), "latency": latency(second)}


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

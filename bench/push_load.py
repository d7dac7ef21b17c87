"""Posting webhook calls as fast as a server acknowledges them: one event per call.

``python -m bench.push_load URL BODIES --concurrency C --duration S`` posts the
lines of the file BODIES (each a JSON body, each used once) and prints how many
were answered 200 (and how many otherwise) within the duration.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

import aiohttp

from sms_delivery_exporter.process.event_loop import new_event_loop


async def run(url: str, bodies: list[bytes], concurrency: int, duration: float) -> dict[str, int]:
    counts = {"ok": 0, "other": 0}
    deadline = time.monotonic() + duration
    headers = {"Content-Type": "application/json"}
    position = 0

    async def worker() -> None:
        nonlocal position
        while time.monotonic() < deadline and position < len(bodies):
            body = bodies[position]
            position += 1
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                counts["ok" if response.status == 200 else "other"] += 1

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("bodies", type=Path)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--duration", type=float, default=4.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    bodies = args.bodies.read_bytes().splitlines()
    loop = new_event_loop(args.loop)
    started = time.monotonic()
    counts = loop.run_until_complete(run(args.url, bodies, args.concurrency, args.duration))
    print(json.dumps({**counts, "seconds": round(time.monotonic() - started, 3)}))


if __name__ == "__main__":
    main()

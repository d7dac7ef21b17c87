"""The yardstick: a bare aiohttp client loop polling the same endpoint with the same concurrency.

``python -m bench.bare URL --ids N --concurrency C --duration S --loop asyncio|uvloop``
prints the number of requests it completed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp

from bench.common import message_ids
from bench.server import API_KEY
from sms_delivery_exporter.process.event_loop import new_event_loop


async def run(url: str, ids: list[str], concurrency: int, duration: float) -> int:
    done = 0
    deadline = time.monotonic() + duration
    headers = {"X-Api-Key": API_KEY, "Accept": "application/json"}

    async def worker(offset: int) -> None:
        nonlocal done
        index = offset
        while time.monotonic() < deadline:
            async with session.get(
                f"{url}/api/messagestatus/{ids[index % len(ids)]}", headers=headers
            ) as response:
                json.loads(await response.read())
            done += 1
            index += concurrency

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
    return done


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--ids", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    loop = new_event_loop(args.loop)
    done = loop.run_until_complete(
        run(args.url, message_ids(args.ids), args.concurrency, args.duration)
    )
    print(json.dumps({"requests": done, "seconds": args.duration}))


if __name__ == "__main__":
    main()

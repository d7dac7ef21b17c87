"""``sms-delivery-exporter track``: register refs from a file with the running exporter.

It posts to the exporter's own intake API rather than writing the store,
so counters, validation and wake-ups are exactly those of any sender.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from sms_delivery_exporter.config import Config
from sms_delivery_exporter.intake.body import BodyError, parse_body
from sms_delivery_exporter.web.paths import INTAKE_PATH


def read_source(source: str) -> bytes:
    """The bytes of a file, or of standard input for ``-``."""
    return sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()


async def track(
    config: Config, host: str, port: int, account: str, source: str, raw: bytes, batch: int
) -> int:
    kind = (
        "application/json"
        if raw.lstrip()[:1] in (b"[", b"{") and _is_json(raw)
        else "application/x-ndjson"
    )
    try:
        items = parse_body(raw, kind, max_items=sys.maxsize)
    except BodyError as exc:
        print(f"error: {source}: {exc}", file=sys.stderr)
        return 1
    for item in items:
        if isinstance(item, dict):
            item.setdefault("account", account)
    headers = {"Content-Type": "application/x-ndjson"}
    if config.intake.token is not None:
        headers["Authorization"] = f"Bearer {config.intake.token.get_secret_value()}"
    host = "127.0.0.1" if host == "0.0.0.0" else host
    url = f"http://{host}:{port}{INTAKE_PATH}"
    totals = {"accepted": 0, "duplicates": 0, "sampled_out": 0}
    async with aiohttp.ClientSession() as session:
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            body = "\n".join(json.dumps(item) for item in chunk).encode()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    answer: Any = await response.json(content_type=None)
            except (aiohttp.ClientError, ValueError) as exc:
                print(f"error: cannot reach the exporter at {host}:{port}: {exc}", file=sys.stderr)
                return 1
            if response.status != 202:
                print(
                    f"error: items {start}-{start + len(chunk) - 1}: {answer.get('error')}",
                    file=sys.stderr,
                )
                for problem in answer.get("errors", []):
                    index = start + problem["index"]
                    print(
                        f"  item {index}: {problem['field']}: {problem['error']}",
                        file=sys.stderr,
                    )
                return 1
            for key in totals:
                totals[key] += answer[key]
    print(json.dumps(totals))
    return 0


def _is_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return False
    return True

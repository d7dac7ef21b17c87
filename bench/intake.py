"""Intake: refs registered per second through POST /api/v1/messages, NDJSON batches of 1,000.

Each 202 comes only after its batch is committed (synchronous=full). Beside
it, in the same run, SQLite alone inserting the same rows in transactions of
1,000: the ceiling the exporter is measured against.
"""

from __future__ import annotations

import json
import sqlite3
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from bench.common import ACCOUNT, exporter, load_server, write_config

BATCH = 1_000
BATCHES = 100


def bodies() -> list[bytes]:
    return [
        "\n".join(
            json.dumps({"account": ACCOUNT, "id": str(uuid.UUID(int=(b << 20) + n + 1, version=4))})
            for n in range(BATCH)
        ).encode()
        for b in range(BATCHES)
    ]


def sqlite_alone(path: Path) -> float:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute(
        "CREATE TABLE refs (id INTEGER PRIMARY KEY, account TEXT, ref_key TEXT,"
        " UNIQUE (account, ref_key))"
    )
    started = time.monotonic()
    for b in range(BATCHES):
        db.execute("BEGIN")
        db.executemany(
            "INSERT OR IGNORE INTO refs (account, ref_key) VALUES (?, ?)",
            (
                (ACCOUNT, f'{{"id":"{uuid.UUID(int=(b << 20) + n + 1, version=4)}"}}')
                for n in range(BATCH)
            ),
        )
        db.execute("COMMIT")
    elapsed = time.monotonic() - started
    db.close()
    return BATCH * BATCHES / elapsed


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-intake-") as tmp:
        workdir = Path(tmp)
        ceiling = sqlite_alone(workdir / "alone.db")
        payloads = bodies()
        with load_server(workdir) as server:
            # The first poll an hour away: this measures intake alone.
            config = write_config(workdir, server, concurrency=4, schedule={"first_poll": "1h"})
            with exporter(workdir, config) as (url, _, _):
                accepted = 0
                started = time.monotonic()
                for body in payloads:
                    request = urllib.request.Request(
                        f"{url}/api/v1/messages",
                        data=body,
                        headers={"Content-Type": "application/x-ndjson"},
                    )
                    with urllib.request.urlopen(request, timeout=60) as response:
                        accepted += json.loads(response.read())["accepted"]
                elapsed = time.monotonic() - started
    rate = accepted / elapsed
    return {
        "refs": accepted,
        "batch": BATCH,
        "refs_per_second": round(rate),
        "sqlite_alone_per_second": round(ceiling),
        "ratio_to_sqlite": round(rate / ceiling, 3),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

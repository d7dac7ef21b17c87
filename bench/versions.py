"""Poll throughput of this checkout against another revision, taking turns in one run.

``python -m bench.versions REV [--rounds N]``: REV's exporter runs from its own
source (a temporary git worktree), with its own plugins found through its own
entry points, and this checkout's exporter beside it; with the bare aiohttp loop
as the yardstick, the three take turns against one load server (the two not
measured frozen with SIGSTOP), so that all see the same machine. The figure is
the median over rounds of each exporter's ratio to the bare loop. Both stores
hold the same refs, created with the first schema every revision can open.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import load_server, message_ids, polls_per_second, process, wait_until_up
from bench.throughput import CONCURRENCY, REFS, bare_rate
from sms_delivery_exporter.store.sqlite_schema import MIGRATIONS
from sms_delivery_exporter.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "bench"
SECONDS = 4.0


@contextmanager
def checkout(revision: str, workdir: Path) -> Iterator[tuple[Path, dict[str, str], str]]:
    """REV's source on sys.path under its own import names: (folder, environment, module)."""
    tree = workdir / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), revision],
        check=True,
        capture_output=True,
    )
    try:
        project = tomllib.loads((tree / "pyproject.toml").read_text())
        site = workdir / "site"
        site.mkdir()
        mapping = project.get("tool", {}).get("setuptools", {}).get("package-dir", {})
        for name, folder in mapping.items():
            (site / name).symlink_to(tree / folder)
        # Its own entry points first on the path: importlib.metadata takes the first
        # distribution of a name, so REV's plugins are REV's.
        info = site / "sms_delivery_exporter-0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            "Metadata-Version: 2.1\nName: sms-delivery-exporter\nVersion: 0\n"
        )
        groups = project["project"].get("entry-points", {})
        (info / "entry_points.txt").write_text(
            "".join(
                f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in entries.items())
                for group, entries in groups.items()
            )
        )
        module = "sms_delivery_exporter" if mapping else "exporter"
        path = os.pathsep.join([str(site), str(tree)])
        yield tree, {**os.environ, "PYTHONPATH": path}, module
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
            check=False,
            capture_output=True,
        )


def first_schema_store(path: Path, refs: int) -> None:
    """Due refs in a store of schema version 1, which every revision opens (and migrates)."""
    db = sqlite3.connect(path)
    db.executescript(MIGRATIONS[0] + ";PRAGMA user_version=1;")
    now = time.time()
    with db:
        db.executemany(
            "INSERT INTO refs (account, ref_key, labels, submitted_at, tracked_at, next_poll_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            ((ACCOUNT, f'{{"id":"{ref}"}}', "", now, now, 0.0) for ref in message_ids(refs)),
        )
    db.close()


def config(workdir: Path, server: str, refs: int) -> Path:
    account = {
        "provider": "namirial",
        "base_url": server,
        "api_key": "bench-api-key",
        "rate_limit": 1_000_000,
        "concurrency": CONCURRENCY,
        "schedule": {
            "first_poll": "0s",
            "initial_interval": "1ms",
            "growth": 1,
            "max_interval": "1ms",
        },
    }
    document = {"store": {"path": str(workdir / "store.db")}, "accounts": {ACCOUNT: account}}
    path = workdir / "config.yaml"
    path.write_text(json.dumps(document))  # JSON is YAML
    first_schema_store(workdir / "store.db", refs)
    return path


@contextmanager
def exporter(
    workdir: Path, server: str, module: str, env: dict[str, str] | None, refs: int
) -> Iterator[subprocess.Popen[bytes]]:
    port = free_port()
    args = [
        sys.executable,
        "-m",
        module,
        "--config.file",
        str(config(workdir, server, refs)),
        "--web.listen-address",
        f"127.0.0.1:{port}",
        "--log.level",
        "warn",
    ]
    with process(args, workdir / "exporter.log", env=env) as proc:
        wait_until_up(f"http://127.0.0.1:{port}/-/ready", timeout=120)
        yield proc


def measured(
    proc: subprocess.Popen[bytes], others: list[subprocess.Popen[bytes]], server: str
) -> float:
    """One exporter's polls per second while the others are frozen."""
    for other in others:
        os.kill(other.pid, signal.SIGSTOP)
    os.kill(proc.pid, signal.SIGCONT)
    try:
        time.sleep(1.0)  # back to speed
        return polls_per_second(server, SECONDS)
    finally:
        for other in others:
            os.kill(other.pid, signal.SIGCONT)


def run(revision: str, rounds: int, refs: int = REFS) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-versions-") as tmp:
        workdir = Path(tmp)
        for name in ("before", "after"):
            (workdir / name).mkdir()
        with (
            checkout(revision, workdir / "before") as (_, env, module),
            load_server(workdir) as server,
            exporter(workdir / "before", server, module, env, refs) as before,
            exporter(workdir / "after", server, "sms_delivery_exporter", None, refs) as after,
        ):
            figures: list[tuple[float, float, float]] = []
            for round_number in range(rounds):
                for proc in (before, after):
                    os.kill(proc.pid, signal.SIGSTOP)
                bare = bare_rate(server, "uvloop", SECONDS)
                # Each goes first in every other round: no order favours either.
                if round_number % 2:
                    new = measured(after, [before], server)
                    old = measured(before, [after], server)
                else:
                    old = measured(before, [after], server)
                    new = measured(after, [before], server)
                figures.append((bare, old, new))
    old_ratios = [old / bare for bare, old, _ in figures]
    new_ratios = [new / bare for bare, _, new in figures]
    return {
        "revision": revision,
        "refs": refs,
        "rounds": rounds,
        "bare_rps": round(statistics.median(f[0] for f in figures)),
        "before_rps": round(statistics.median(f[1] for f in figures)),
        "after_rps": round(statistics.median(f[2] for f in figures)),
        "before_ratio": round(statistics.median(old_ratios), 3),
        "after_ratio": round(statistics.median(new_ratios), 3),
        "after_over_before": round(
            statistics.median(n / o for o, n in zip(old_ratios, new_ratios, strict=True)), 3
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("revision")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--refs", type=int, default=REFS, help="refs in each store, all due")
    args = parser.parse_args()
    print(json.dumps(run(args.revision, args.rounds, args.refs), indent=2))


if __name__ == "__main__":
    main()

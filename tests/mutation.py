"""``make mutation``: mutmut over the scheduler, tracker, governor, writer, intake and the
webhook applier.

Each group of modules is mutated with only the tests that exercise it (the
whole suite would take hours); the score of each module is printed at the
end and recorded in tests/README.md. Not part of ``make test``: it takes
about an hour on two cores. mutmut 2 mutates files in place, so run it on a
checkout nobody is editing (``make mutation`` refuses uncommitted changes).
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

PYTEST = f"{sys.executable} -m pytest -x -q -p no:cacheprovider --timeout 60"
GROUPS: dict[str, list[str]] = {
    "exporter/polling/governor.py": ["tests/test_poll_outcomes.py", "tests/test_provider_http.py"],
    "exporter/polling/tracker.py,exporter/polling/ref_state.py": [
        "tests/test_tracking.py",
        "tests/test_tracking_push.py",
        "tests/test_poll_outcomes.py",
    ],
    "exporter/polling/writer.py": ["tests/test_writer.py"],
    "exporter/polling/poller.py": [
        "tests/test_poll_outcomes.py",
        "tests/test_batching.py",
        "tests/test_scheduler.py",
    ],
    "exporter/intake": ["tests/test_intake.py", "tests/test_intake_edges.py"],
    "exporter/push/applier.py": [
        "tests/test_push.py",
        "tests/test_tracking_push.py",
        "tests/test_postgres_store.py",  # replicas: the lease's sweep, others' accounts
    ],
}
CACHE = Path(".mutmut-cache")


def main(only: list[str]) -> int:
    """Mutate every group, or those whose paths contain one of ``only``."""
    if subprocess.run(["git", "diff", "--quiet"], check=False).returncode != 0:
        print("uncommitted changes: mutmut edits files in place; commit or stash first")
        return 2
    if not only:
        CACHE.unlink(missing_ok=True)
    for paths, tests in GROUPS.items():
        if only and not any(part in paths for part in only):
            continue
        print(f"== {paths}", flush=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "mutmut",
                "run",
                "--paths-to-mutate",
                paths,
                "--runner",
                f"{PYTEST} {' '.join(tests)}",
                "--tests-dir",
                "tests",
                "--no-progress",
            ],
            check=False,
        )
    print(report())
    return 0


def report() -> str:
    """Killed, survived and timed-out mutants per module, from mutmut's own cache."""
    db = sqlite3.connect(CACHE)
    rows = db.execute(
        "SELECT sourcefile.filename, mutant.status FROM mutant"
        " JOIN line ON mutant.line = line.id JOIN sourcefile ON line.sourcefile = sourcefile.id"
    ).fetchall()
    by_file: dict[str, Counter[str]] = {}
    for filename, status in rows:
        by_file.setdefault(filename, Counter())[status] += 1
    lines = [
        "| module | mutants | killed | survived | timed out | not run | score |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for filename, counts in sorted(by_file.items()):
        # "suspicious": a test failed, slowly; "untested": the run was stopped before it.
        failed = counts["ok_killed"] + counts["ok_suspicious"]
        run = sum(counts.values()) - counts["untested"]
        killed = failed + counts["bad_timeout"]
        score = f"{killed / run:.0%}" if run else "-"
        lines.append(
            f"| {filename} | {run} | {failed} | {counts['bad_survived']}"
            f" | {counts['bad_timeout']} | {counts['untested']} | {score} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

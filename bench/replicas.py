"""Replicas on PostgreSQL: polls per second with 1, 2 and 3 replicas, and 1 on SQLite, against
the same load server in one run; and the database's work per poll and per final status.

The load server answers SENT for every id (every ref polled again and again),
as in ``throughput``; with ``--final`` it answers DELIVERED, so each ref is
polled once and finished, which measures the work of a final status. The
database's work is read from ``pg_stat_statements`` (statements, which are
round trips: each runs alone in autocommit, and rows) and
``pg_stat_database`` (transactions, rows written), reset before each window.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg

from bench.common import (
    ACCOUNT,
    exporter,
    fill_store,
    load_server,
    message_ids,
    polls_per_second,
    server_requests,
    write_config,
)
from tests.postgres import PostgresCluster

REFS = 10_000
FINALS = 20_000
CONCURRENCY = 32
WINDOW = 5.0

_FILL = """
INSERT INTO refs (account, ref_key, labels, submitted_at, tracked_at, next_poll_at)
SELECT %(account)s, '{"id":"' || id || '"}', '', %(now)s, %(now)s, 0 FROM unnest(%(ids)s::text[]) id
"""
_STATEMENTS = """
SELECT left(regexp_replace(query, '\\s+', ' ', 'g'), 60), calls, rows FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY calls DESC
"""
_DATABASE = """
SELECT xact_commit, tup_inserted + tup_updated + tup_deleted, tup_returned + tup_fetched
FROM pg_stat_database WHERE datname = current_database()
"""


def fill_database(url: str, count: int) -> None:
    """The schema (as the exporter makes it) and ``count`` due refs of the bench account."""
    with psycopg.connect(url, autocommit=True) as connection:
        from sms_delivery_exporter.store.postgres_schema import MIGRATIONS

        connection.execute("CREATE TABLE schema_version (version integer NOT NULL)")
        for number, migration in enumerate(MIGRATIONS, start=1):
            connection.execute(migration.encode())
            connection.execute("INSERT INTO schema_version VALUES (%s)", (number,))
        params = {"account": ACCOUNT, "now": time.time(), "ids": message_ids(count)}
        connection.execute(_FILL, params)
        connection.execute("VACUUM ANALYZE refs")


def reset_statistics(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("SELECT pg_stat_statements_reset()")
        connection.execute("SELECT pg_stat_reset()")


def database_work(url: str) -> dict[str, Any]:
    with psycopg.connect(url, autocommit=True) as connection:
        statements = connection.execute(_STATEMENTS).fetchall()
        commits, written, read = connection.execute(_DATABASE).fetchone() or (0, 0, 0)
    ours = [(text, calls, rows) for text, calls, rows in statements if "pg_stat" not in text]
    return {
        "statements": sum(calls for _, calls, _ in ours),
        "statement_rows": sum(rows for _, _, rows in ours),
        "commits": commits,
        "rows_written": written,
        "rows_read": read,
        "by_statement": [
            {"statement": text, "calls": calls, "rows": rows} for text, calls, rows in ours[:6]
        ],
    }


@contextlib.contextmanager
def replicas(
    workdir: Path, server: str, url: str, count: int, name: str = "replica"
) -> Iterator[list[tuple[str, Any, float]]]:
    with contextlib.ExitStack() as stack:
        started = []
        for number in range(count):
            folder = workdir / f"{name}-{count}-{number}"
            folder.mkdir()
            config = write_config(
                folder, server, concurrency=CONCURRENCY, store={"url": url, "lease": "30s"}
            )
            started.append(stack.enter_context(exporter(folder, config)))
        yield started


def per_poll(work: dict[str, Any], polls: float) -> dict[str, float]:
    return {
        key: round(work[key] / polls, 3)
        for key in ("statements", "statement_rows", "commits", "rows_written", "rows_read")
    }


def poll_rates(workdir: Path, cluster: PostgresCluster) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with load_server(workdir) as server:
        fill_store(workdir / "store.db", REFS)
        sqlite_config = write_config(workdir, server, concurrency=CONCURRENCY)
        with exporter(workdir, sqlite_config):
            time.sleep(2.0)
            results["sqlite_1"] = {"polls_per_second": round(polls_per_second(server, WINDOW))}
        for count in (1, 2, 3):
            url = cluster.new_database()
            fill_database(url, REFS)
            with replicas(workdir, server, url, count):
                time.sleep(2.0)  # warm-up: connections, prepared statements
                reset_statistics(url)
                before = server_requests(server)
                rate = polls_per_second(server, WINDOW)
                polls = server_requests(server) - before
                work = database_work(url)
            results[f"postgresql_{count}"] = {
                "polls_per_second": round(rate),
                "per_poll": per_poll(work, polls),
                "by_statement": work["by_statement"],
            }
    return results


def final_work(workdir: Path, cluster: PostgresCluster) -> dict[str, Any]:
    """Every ref polled once and finished (one replica): the work of one final status."""
    with load_server(workdir, final=True) as server:
        url = cluster.new_database()
        fill_database(url, FINALS)
        reset_statistics(url)
        with replicas(workdir, server, url, 1, "final"):
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                with psycopg.connect(url) as connection:
                    row = connection.execute(
                        "SELECT count(*) FROM refs WHERE next_poll_at IS NOT NULL"
                    ).fetchone()
                if row is not None and row[0] == 0:
                    break
                time.sleep(0.5)
            work = database_work(url)
    return {
        "finals": FINALS,
        "per_final": per_poll(work, FINALS),
        "by_statement": work["by_statement"],
    }


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
        made = PostgresCluster()
        try:
            made.create()
            with (made.data / "postgresql.conf").open("a") as conf:
                conf.write("shared_preload_libraries = 'pg_stat_statements'\n")
            made.start()
            with psycopg.connect(made.url("template1"), autocommit=True) as connection:
                connection.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            results: dict[str, Any] = {"refs": REFS, "concurrency_per_replica": CONCURRENCY}
            results |= poll_rates(Path(tmp), made)
            results["final"] = final_work(Path(tmp), made)
        finally:
            made.remove()
    return results


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""The store under hazards: a second exporter, an empty or damaged file, the file deleted,
made read-only or out of room while running, and SIGTERM whatever state it is in."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sms_delivery_exporter.store import NewRef, SqliteStore, StoreError
from tests.helpers import make_config, namirial_account, wait_for
from tests.processes import ExporterProcess

pytestmark = pytest.mark.slow
TOKEN = "store-safety-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
IDS = [f"00000000-0000-4000-8000-{n:012d}" for n in range(100)]


def config_text(store: Path, first_poll: str = "1h", **store_options: Any) -> str:
    schedule = {"first_poll": first_poll, "initial_interval": "100ms", "max_interval": "200ms"}
    _, text = make_config(
        store.parent,
        # No provider behind this address: refs stay open, polls fail and are retried.
        {"eu": namirial_account("http://127.0.0.1:9", "k", schedule=schedule)},
        store={"path": str(store), "check_interval": "100ms", **store_options},
        intake={"token": TOKEN},
    )
    return text


def exporter_on(
    store: Path, workdir: Path, first_poll: str = "1h", **store_options: Any
) -> ExporterProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    return ExporterProcess(config_text(store, first_poll, **store_options), workdir)


async def running(
    store: Path,
    workdir: Path,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
    first_poll: str = "1h",
    **store_options: Any,
) -> ExporterProcess:
    """An exporter process on ``store``, ready; the fixture stops it."""
    exporter = exporter_on(store, workdir, first_poll, **store_options)
    processes.append(exporter)
    exporter.start()
    await exporter.ready(session)
    return exporter


def stops_in_time(exporter: ExporterProcess) -> None:
    """SIGTERM completes, and in bounded time, whatever the store's state."""
    started = time.monotonic()
    assert exporter.stop() == 0
    assert time.monotonic() - started < 20


async def post(session: aiohttp.ClientSession, url: str, ids: list[str]) -> tuple[int, Any]:
    body = [{"account": "eu", "id": i} for i in ids]
    async with session.post(f"{url}/api/v1/messages", json=body, headers=AUTH) as response:
        return response.status, await response.json()


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        return response.status


async def metric(session: aiohttp.ClientSession, exporter: ExporterProcess, name: str) -> float:
    return (await exporter.scrape(session)).get((name, frozenset()), -1.0)


class TestOneExporterPerStore:
    """A second exporter on a store in use stops at once, naming the store."""

    async def test_second_exporter_refused(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        store = tmp_path / "state.db"
        first = exporter_on(store, tmp_path / "first")
        processes.append(first)
        first.start()
        await first.ready(session)
        second = exporter_on(store, tmp_path / "second")
        processes.append(second)
        second.start()
        assert second.process is not None
        assert second.process.wait(timeout=30) != 0
        assert f"the store {store} is in use by another exporter" in second.log()
        # The first goes on undisturbed, and after it stops the store is free again.
        assert await status_of(session, f"{first.url}/-/ready") == 200
        assert first.stop() == 0
        third = exporter_on(store, tmp_path / "third")
        processes.append(third)
        third.start()
        await third.ready(session)


class TestRefusedAtStart:
    """A store file that is not a whole store is refused with a message, never started afresh."""

    async def test_empty_file(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        path.write_bytes(b"")
        store = SqliteStore(path)
        with pytest.raises(StoreError, match=r"empty file \(0 bytes\), not a store"):
            await store.open()
        await store.close()
        assert path.stat().st_size == 0  # left as it was, for whoever investigates

    async def test_zeroed_page(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        await _fill(path)
        with path.open("r+b") as file:  # page 3: inside the refs table's tree
            file.seek(2 * 4096)
            file.write(bytes(4096))
        store = SqliteStore(path)
        with pytest.raises(StoreError, match="is corrupt"):
            await store.open()
        await store.close()

    def test_cli_names_the_problem(self, tmp_path: Path) -> None:
        path = tmp_path / "state.db"
        path.write_bytes(b"")
        config = tmp_path / "config.yaml"
        config.write_text(config_text(path))
        result = subprocess.run(
            [sys.executable, "-m", "sms_delivery_exporter", "--config.file", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert f"the store {path} is an empty file" in result.stderr


async def _fill(path: Path) -> None:
    """A real store with a few hundred refs, closed cleanly (everything in the main file)."""
    store = SqliteStore(path)
    await store.open()
    refs = [NewRef("eu", f'{{"id":"{n:036d}"}}', "", 1.0, 1.0, 2.0) for n in range(500)]
    await store.insert_refs(refs)
    await store.close()


class TestWatched:
    """Problems while running: /-/ready 503, intake 503 (nothing acknowledged), metrics, a log."""

    async def test_file_deleted(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        store = tmp_path / "state.db"
        exporter = await running(store, tmp_path, session, processes)
        assert (await post(session, exporter.url, IDS[:5]))[0] == 202
        assert await metric(session, exporter, "sms_exporter_store_healthy") == 1
        store.unlink()
        await self.refused(session, exporter, "missing")
        assert "was deleted or replaced while open" in exporter.log()

    @pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
    async def test_file_made_read_only(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        store = tmp_path / "state.db"
        # Refs polled all the time (the provider is down): poll results keep coming.
        exporter = await running(store, tmp_path, session, processes, first_poll="0s")
        assert (await post(session, exporter.url, IDS[:5]))[0] == 202
        files = [store, store.with_name("state.db-wal")]
        if subprocess.run(["chattr", "+i", *map(str, files)], check=False).returncode != 0:
            pytest.skip("the file system does not take the immutable flag")
        try:
            await self.refused(session, exporter, "unwritable")
            # SIGTERM still completes, and says what it could not commit.
            stops_in_time(exporter)
            assert "poll results not committed at shutdown" in exporter.log()
        finally:
            subprocess.run(["chattr", "-i", *map(str, files)], check=False)

    @pytest.mark.skipif(shutil.which("mount") is None, reason="needs mount")
    async def test_disk_full(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        disk = tmp_path / "disk"
        disk.mkdir()
        mounted = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(disk)],
            capture_output=True,
            check=False,
        )
        if mounted.returncode != 0:
            pytest.skip("cannot mount a small file system here (not root?)")
        try:
            exporter = await running(disk / "state.db", tmp_path / "run", session, processes)
            assert (await post(session, exporter.url, IDS[:5]))[0] == 202
            with contextlib.suppress(OSError), (disk / "filler").open("wb", buffering=0) as filler:
                while True:  # until the file system is full
                    filler.write(bytes(65536))
            await self.refused(session, exporter, "unwritable")
            stops_in_time(exporter)
        finally:
            for process in processes:
                if process.process is not None and process.process.poll() is None:
                    process.kill()
            subprocess.run(["umount", "-l", str(disk)], check=False)

    async def test_damage_found_by_the_integrity_check(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        store = tmp_path / "state.db"
        exporter = await running(
            store, tmp_path, session, processes, integrity_check_interval="200ms"
        )
        for start in range(0, 100, 20):
            assert (await post(session, exporter.url, IDS[start : start + 20]))[0] == 202
        # Into the main file (out of the WAL), then a page of it zeroed behind SQLite's back.
        checkpoint = sqlite3.connect(store)
        checkpoint.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        checkpoint.close()
        with store.open("r+b") as file:
            file.seek(2 * 4096)
            file.write(bytes(4096))
        await self.refused(session, exporter, "corrupt")

    async def refused(
        self, session: aiohttp.ClientSession, exporter: ExporterProcess, problem: str
    ) -> None:
        """What users see of a store with ``problem``: probe, intake, metrics, log."""

        async def unready() -> bool:
            return await status_of(session, f"{exporter.url}/-/ready") == 503

        await wait_for(unready, timeout=20, what=f"/-/ready 503 ({problem})")
        before = await metric(session, exporter, "sms_exporter_store_healthy")
        status, body = await post(session, exporter.url, IDS[50:53])
        assert status == 503, body
        assert "nothing of this batch was registered" in body["error"]
        samples = await exporter.scrape(session)
        assert before == 0
        assert samples[("sms_exporter_store_problem", frozenset({("problem", problem)}))] == 1
        assert (
            samples[("sms_exporter_store_problems_total", frozenset({("problem", problem)}))] >= 1
        )
        await wait_for(
            lambda: f"problem={problem}" in exporter.log(), what="the problem in the log"
        )

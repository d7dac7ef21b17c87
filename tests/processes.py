"""Running the exporter as a real process through its CLI, for end-to-end tests."""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp

from sms_delivery_exporter.testing import free_port
from tests.helpers import Samples, scrape, wait_for


class ExporterProcess:
    """``python -m sms_delivery_exporter`` with a config file, on a free loopback port."""

    def __init__(
        self,
        config_text: str,
        workdir: Path,
        *,
        args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        open_files: int | None = None,
    ) -> None:
        self.workdir = workdir
        self.config_path = workdir / "config.yaml"
        self.config_path.write_text(config_text)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.args = args
        self.env = env or {}
        self.open_files = open_files
        """The process's open-file limit (soft and hard), when a test needs a small one."""
        self.process: subprocess.Popen[bytes] | None = None
        self.runs = 0

    def start(self) -> None:
        self.runs += 1
        log = (self.workdir / f"exporter-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sms_delivery_exporter",
                "--config.file",
                str(self.config_path),
                "--web.listen-address",
                f"127.0.0.1:{self.port}",
                "--log.level",
                "debug",
                *self.args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **self.env},
            preexec_fn=self._limit if self.open_files is not None else None,
        )

    def _limit(self) -> None:
        assert self.open_files is not None
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, self.open_files))

    async def ready(self, session: aiohttp.ClientSession, timeout: float = 30) -> None:
        async def is_ready() -> bool:
            assert self.process is not None and self.process.poll() is None, self.log()
            try:
                async with session.get(f"{self.url}/-/ready") as response:
                    return response.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(is_ready, timeout=timeout, interval=0.1, what="exporter ready")

    async def scrape(self, session: aiohttp.ClientSession) -> Samples:
        return await scrape(session, self.url)

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> int:
        """SIGTERM and wait: the clean shutdown path."""
        if self.process is None or self.process.poll() is not None:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def log(self) -> str:
        return "\n".join(
            path.read_text(errors="replace")[-4000:]
            for path in sorted(self.workdir.glob("exporter-*.log"))
        )

    async def post(
        self, session: aiohttp.ClientSession, items: list[dict[str, Any]]
    ) -> dict[str, Any]:
        async with session.post(f"{self.url}/api/v1/messages", json=items) as response:
            body: dict[str, Any] = await response.json()
            assert response.status == 202, body
            return body

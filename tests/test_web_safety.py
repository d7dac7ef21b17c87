"""The web port under abuse, through the real CLI: malformed headers, early disconnects,
trickled bodies and idle connections. Nothing a client sends reaches the log or comes back."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.helpers import make_config, namirial_account, wait_for
from tests.processes import ExporterProcess
from tests.served import raw_request

pytestmark = pytest.mark.slow
TOKEN = "web-safety-token-0123456789"
ID = "00000000-0000-4000-8000-000000000001"


def exporter(
    tmp_path: Path, *args: str, open_files: int | None = None, **intake: object
) -> ExporterProcess:
    _, text = make_config(
        tmp_path,
        {"eu": namirial_account("http://127.0.0.1:9", "k", schedule={"first_poll": "1h"})},
        intake={"token": TOKEN, **intake},
    )
    return ExporterProcess(text, tmp_path, args=args, open_files=open_files)


def post_with(authorization: bytes, body: bytes = b"{}") -> bytes:
    return (
        b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: "
        + authorization
        + b"\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )


def status(answer: bytes) -> int:
    return int(answer.split(b" ", 2)[1]) if answer.startswith((b"HTTP/1.1 ", b"HTTP/1.0 ")) else 0


class TestHeaders:
    """Malformed or undecodable headers: a 4xx, and neither the log nor the answer quotes them."""

    @pytest.mark.parametrize(
        "value",
        [
            b"Bearer " + TOKEN.encode() + b"\x00",  # NUL
            b"Bearer " + TOKEN.encode() + b"\x7f",  # DEL
            b"Bearer " + TOKEN.encode() + b"\r",  # a trailing CR
            b"Bearer " + TOKEN.encode() + b"\xff\xfe",  # not UTF-8
            b"\xc3(" + TOKEN.encode(),  # not UTF-8 before the token
            b"Bearer " + TOKEN.encode() + b"x" * 9000,  # longer than a header may be
        ],
    )
    async def test_never_logged_or_echoed(
        self,
        tmp_path: Path,
        session: aiohttp.ClientSession,
        processes: list[ExporterProcess],
        value: bytes,
    ) -> None:
        process = exporter(tmp_path)
        processes.append(process)
        process.start()
        await process.ready(session)
        answer = await raw_request(process.port, post_with(value))
        assert 400 <= status(answer) < 500, answer[:200]
        assert TOKEN.encode() not in answer
        async with session.get(f"{process.url}/metrics") as response:
            assert response.status == 200
        process.stop()
        log = process.log()
        assert TOKEN not in log
        assert "level=error" not in log
        assert "Traceback" not in log

    async def test_early_disconnects_and_floods_stay_quiet(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        process = exporter(tmp_path)
        processes.append(process)
        process.start()
        await process.ready(session)
        head = (
            b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nContent-Length: 100000\r\n\r\n{"
        )
        for _ in range(50):  # bodies cut short
            _, writer = await asyncio.open_connection("127.0.0.1", process.port)
            writer.write(head)
            await writer.drain()
            writer.close()
        for _ in range(200):  # malformed requests
            await raw_request(process.port, b"GET / HTTP/1.1\r\nX: a\x00b\r\n\r\n")
        async with session.get(f"{process.url}/-/healthy") as response:
            assert response.status == 200
        process.stop()
        log = process.log()
        assert "level=error" not in log
        assert "Traceback" not in log
        # 200 refusals, one kind of line: written at most 20 times a minute.
        refusals = [line for line in log.splitlines() if 'msg="request refused"' in line]
        assert 1 <= len(refusals) <= 20


class TestTimeouts:
    """A trickled body gets 408; connections that never complete a request are closed."""

    async def test_trickled_body(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        process = exporter(tmp_path, "--web.idle-timeout", "1", read_timeout="1s")
        processes.append(process)
        process.start()
        await process.ready(session)
        reader, writer = await asyncio.open_connection("127.0.0.1", process.port)
        writer.write(
            b"POST /api/v1/messages HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + TOKEN.encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n[{"
        )
        await writer.drain()

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for _ in range(100):
                    writer.write(b" ")
                    await writer.drain()
                    await asyncio.sleep(0.2)

        trickling = asyncio.create_task(trickle())
        try:
            async with asyncio.timeout(15):
                answer = await reader.readuntil(b"\r\n\r\n")
        finally:
            trickling.cancel()
            writer.close()
        assert status(answer) == 408
        # A connection that sends nothing is closed after the idle timeout.
        idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", process.port)
        async with asyncio.timeout(15):
            assert await idle_reader.read() == b""
        idle_writer.close()


class TestConnectionCap:
    """More idle connections than descriptors allow: the cap keeps /metrics and intake usable."""

    async def test_idle_connections_beyond_the_cap(
        self, tmp_path: Path, session: aiohttp.ClientSession, processes: list[ExporterProcess]
    ) -> None:
        # 256 descriptors: without the cap, 400 idle connections would leave none for a scrape.
        process = exporter(tmp_path, "--web.max-connections", "64", open_files=256)
        processes.append(process)
        process.start()
        await process.ready(session)
        idle: list[asyncio.StreamWriter] = []
        try:
            for n in range(400):
                with contextlib.suppress(OSError):
                    _, writer = await asyncio.open_connection("127.0.0.1", process.port)
                    if n % 2:
                        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
                    idle.append(writer)

            async def scraped() -> bool:
                try:
                    async with session.get(
                        f"{process.url}/metrics", timeout=aiohttp.ClientTimeout(total=5)
                    ) as response:
                        return response.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    return False

            await wait_for(scraped, timeout=30, what="/metrics answering")
            async with session.post(
                f"{process.url}/api/v1/messages",
                json={"account": "eu", "id": ID},
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as response:
                assert response.status == 202
        finally:
            for writer in idle:
                writer.close()
        assert "connection cap reached" in process.log()


class TestConfigCheck:
    """``--config.check`` refuses what the run would refuse on the same address."""

    @pytest.mark.parametrize(
        ("intake", "message"),
        [({}, "without a token"), ({"token": "t"}, "in clear")],
    )
    def test_exposed_intake(self, tmp_path: Path, intake: dict[str, str], message: str) -> None:
        _, text = make_config(
            tmp_path, {"eu": namirial_account("http://127.0.0.1:9", "k")}, intake=intake
        )
        path = tmp_path / "config.yaml"
        path.write_text(text)
        command = [sys.executable, "-m", "sms_delivery_exporter", "--config.file", str(path)]
        checked = subprocess.run(
            [*command, "--config.check", "--web.listen-address", "0.0.0.0:19466"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert checked.returncode == 1
        assert message in checked.stderr
        loopback = subprocess.run(
            [*command, "--config.check"], capture_output=True, text=True, timeout=60, check=False
        )
        assert loopback.returncode == 0, loopback.stderr

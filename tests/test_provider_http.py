"""The HTTP client a provider gets: every call observed (re-sends included), gated, never
leaking its URL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
import pytest

from sms_delivery_exporter.api import ErrorKind, ProviderHttp, TransientError
from sms_delivery_exporter.api.http import RESENT, AttemptCountingRequest
from sms_delivery_exporter.polling import RateLimiter

ANSWER = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}"


class KeepAliveDropper:
    """A server that answers one request per connection, keeps the connection open, and
    drops it without a word when a second request comes on it (as a load balancer that
    times out idle connections does)."""

    def __init__(self) -> None:
        self.connections = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(ANSWER)
        await writer.drain()
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            await reader.readuntil(b"\r\n\r\n")  # the next request on this connection
        writer.close()

    async def start(self) -> str:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/status"


@pytest.fixture
async def dropper() -> AsyncIterator[tuple[KeepAliveDropper, str]]:
    server = KeepAliveDropper()
    url = await server.start()
    yield server, url
    assert server.server is not None
    server.server.close()
    await server.server.wait_closed()


async def test_a_silent_resend_is_counted(dropper: tuple[KeepAliveDropper, str]) -> None:
    server, url = dropper
    calls: list[tuple[str, float | None]] = []
    async with aiohttp.ClientSession(request_class=AttemptCountingRequest) as session:
        http = ProviderHttp(
            session,
            limiter=RateLimiter(1000),
            timeout=5,
            observe=lambda code, seconds: calls.append((code, seconds)),
        )
        first = await http.request("GET", url)
        second = await http.request("GET", url)  # sent on the kept-alive connection first
    assert (first.status, second.status) == (200, 200)
    assert server.connections == 2  # aiohttp sent the second call again, on a new one
    assert [code for code, _ in calls] == ["200", RESENT, "200"]
    assert [seconds is None for _, seconds in calls] == [False, True, False]


async def test_no_resend_no_extra_count(dropper: tuple[KeepAliveDropper, str]) -> None:
    _, url = dropper
    calls: list[str] = []
    async with aiohttp.ClientSession(
        request_class=AttemptCountingRequest, connector=aiohttp.TCPConnector(force_close=True)
    ) as session:
        http = ProviderHttp(
            session, limiter=RateLimiter(1000), timeout=5, observe=lambda c, _: calls.append(c)
        )
        for _ in range(3):
            await http.request("GET", url)
    assert calls == ["200", "200", "200"]


class ClosedGate:
    """A host's gate, closed until the test opens it."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()
        self.probes_done = 0

    def open(self) -> bool:
        return self.opened.is_set()

    async def admit(self) -> bool:
        await self.opened.wait()
        return True

    def probe_done(self) -> None:
        self.probes_done += 1


async def test_nothing_leaves_through_a_closed_gate(dropper: tuple[KeepAliveDropper, str]) -> None:
    server, url = dropper
    gate = ClosedGate()
    async with aiohttp.ClientSession() as session:
        http = ProviderHttp(
            session, limiter=RateLimiter(1000), timeout=5, observe=lambda c, s: None, gate=gate
        )
        call = asyncio.create_task(http.request("GET", url))
        for _ in range(10):
            await asyncio.sleep(0)
        assert server.connections == 0 and not call.done()
        gate.opened.set()
        assert (await call).status == 200
    assert gate.probes_done == 1  # the call was the probe, and said so when it ended


async def test_connection_errors_name_no_url() -> None:
    async with aiohttp.ClientSession() as session:
        http = ProviderHttp(
            session, limiter=RateLimiter(1000), timeout=5, observe=lambda c, s: None
        )
        with pytest.raises(TransientError) as raised:
            await http.request("GET", "http://127.0.0.1:9/secret-token-in-path?access_token=x")
    assert raised.value.kind is ErrorKind.CONNECTION
    assert "secret" not in str(raised.value) and "access_token" not in str(raised.value)

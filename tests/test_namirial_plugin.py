"""The namirial plugin against its simulator on loopback: statuses and every error."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    ProviderHttp,
    RefNotFound,
    RefReport,
    Status,
    Throttled,
    TransientError,
)
from sms_delivery_exporter.polling.ratelimit import RateLimiter
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.namirial.provider import NamirialProvider, NamirialSettings
from sms_delivery_providers.namirial.ref import NamirialRef
from tests.conftest import API_KEY, FakeClock

MakeProvider = Callable[..., NamirialProvider]


@pytest.fixture
async def make_provider() -> AsyncIterator[Callable[..., Any]]:
    sessions: list[aiohttp.ClientSession] = []

    def make(base_url: str, *, api_key: str = API_KEY, timeout: float = 2.0) -> NamirialProvider:
        session = aiohttp.ClientSession()
        sessions.append(session)
        settings = NamirialSettings(
            provider="namirial", base_url=base_url, api_key=api_key, timeout=timeout
        )
        calls: list[tuple[str, float | None]] = []
        http = ProviderHttp(
            session,
            limiter=RateLimiter(1000),
            timeout=timeout,
            observe=lambda code, seconds: calls.append((code, seconds)),
        )
        provider = NamirialProvider(settings, http)
        provider.calls = calls  # type: ignore[attr-defined]
        return provider

    yield make
    for session in sessions:
        await session.close()


async def report(provider: NamirialProvider, message_id: str) -> RefReport:
    return await provider.fetch_one(NamirialRef(id=message_id))


class TestLifecycle:
    """A message read at each stage of its life gives the canonical status."""

    @pytest.mark.parametrize(
        ("scenario", "stages"),
        [
            (
                Scenario(delivered=1, undelivered=0, rejected=0),
                [Status.QUEUED, Status.SENT, Status.DELIVERED],
            ),
            (
                Scenario(delivered=0, undelivered=1, rejected=0, reasons={"unreachable": 1}),
                [Status.QUEUED, Status.SENT, Status.UNDELIVERED],
            ),
            (
                Scenario(delivered=0, undelivered=0, rejected=1, reasons={"spam": 1}),
                [Status.QUEUED, Status.REJECTED],
            ),
        ],
    )
    async def test_stages(
        self,
        start_namirial: Callable[..., Any],
        make_provider: MakeProvider,
        clock: FakeClock,
        scenario: Scenario,
        stages: list[Status],
    ) -> None:
        simulator, url = await start_namirial(scenario, clock=clock)
        provider = make_provider(url)
        [message] = simulator.send(1)
        seen = []
        for when, _ in message.stages:
            clock.now = when
            [observation] = (await report(provider, message.id)).observations
            seen.append(observation.status)
        assert seen == stages
        final = (await report(provider, message.id)).observations[0]
        assert final.segments == message.segments
        if final.status in (Status.UNDELIVERED, Status.REJECTED):
            assert final.reason == message.reason

    async def test_rcs_read(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider, clock: FakeClock
    ) -> None:
        scenario = Scenario(delivered=1, undelivered=0, rejected=0, rcs_share=1, read_share=1)
        simulator, url = await start_namirial(scenario, clock=clock)
        provider = make_provider(url)
        [message] = simulator.send(1)
        assert message.read_at is not None
        clock.now = message.read_at
        [seen] = (await report(provider, message.id)).observations
        assert (seen.status, seen.read, seen.channel) == (Status.DELIVERED, True, "rcs")

    async def test_latency_from_provider_clocks(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider, clock: FakeClock
    ) -> None:
        scenario = Scenario(delivered=1, undelivered=0, rejected=0, latency_median=42)
        simulator, url = await start_namirial(scenario, clock=clock)
        provider = make_provider(url)
        [message] = simulator.send(1)
        delivered_at = message.delivered_at
        assert delivered_at is not None
        clock.now = delivered_at + 100
        [seen] = (await report(provider, message.id)).observations
        assert seen.accepted_at is not None and seen.changed_at is not None
        truth = delivered_at - message.accepted_at
        assert abs((seen.changed_at - seen.accepted_at) - truth) <= 1.0  # whole-second stamps

    async def test_uppercase_id_is_the_same_message(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        simulator, url = await start_namirial()
        [message] = simulator.send(1)
        result = await make_provider(url).fetch_one(NamirialRef(id=message.id.upper()))
        assert len(result.observations) == 1


class TestErrors:
    """Each failure of the API becomes the typed error the host acts on."""

    async def test_wrong_key_is_auth_failed(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        simulator, url = await start_namirial()
        [message] = simulator.send(1)
        with pytest.raises(AuthFailed, match="403") as raised:
            await report(make_provider(url, api_key="wrong-key"), message.id)
        assert "wrong-key" not in str(raised.value)

    async def test_unknown_id_is_not_found(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        _, url = await start_namirial()
        with pytest.raises(RefNotFound):
            await report(make_provider(url), "00000000-0000-4000-8000-000000000000")

    async def test_429_carries_retry_after(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        simulator, url = await start_namirial(Scenario(throttle_rate=1, retry_after=7))
        [message] = simulator.send(1)
        with pytest.raises(Throttled) as raised:
            await report(make_provider(url), message.id)
        assert raised.value.retry_after == 7
        assert not raised.value.blocked

    async def test_5xx_is_transient(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        simulator, url = await start_namirial(Scenario(error_rate=1))
        [message] = simulator.send(1)
        with pytest.raises(TransientError, match="503"):
            await report(make_provider(url), message.id)

    async def test_malformed_json_is_a_bad_response(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        simulator, url = await start_namirial(Scenario(malformed_rate=1))
        [message] = simulator.send(1)
        with pytest.raises(BadResponse, match="not valid JSON"):
            await report(make_provider(url), message.id)

    async def test_slow_answer_times_out(
        self, start_namirial: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        simulator, url = await start_namirial(Scenario(slow_rate=1, slow_seconds=5))
        [message] = simulator.send(1)
        provider = make_provider(url, timeout=0.2)
        with pytest.raises(TransientError) as raised:
            await report(provider, message.id)
        assert raised.value.kind == "timeout"
        assert provider.calls == [("timeout", pytest.approx(0.2, abs=0.5))]  # type: ignore[attr-defined]

    async def test_connection_refused_is_transient(self, make_provider: MakeProvider) -> None:
        from sms_delivery_exporter.testing import free_port

        provider = make_provider(f"http://127.0.0.1:{free_port()}")
        with pytest.raises(TransientError) as raised:
            await report(provider, "00000000-0000-4000-8000-000000000000")
        assert raised.value.kind == "connection"
        assert "127.0.0.1" not in str(raised.value)

    async def test_answer_without_message_object(
        self, aiohttp_server: Callable[..., Any], make_provider: MakeProvider
    ) -> None:
        from aiohttp import web

        async def wrong_shape(_: web.Request) -> web.Response:
            return web.json_response({"messages": []})

        app = web.Application()
        app.router.add_get("/api/messagestatus/{id}", wrong_shape)
        server = await aiohttp_server(app)
        with pytest.raises(BadResponse, match="no 'message' object"):
            await report(
                make_provider(str(server.make_url("")).rstrip("/")),
                "00000000-0000-4000-8000-000000000000",
            )

    def test_ref_must_be_a_uuid(self) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="pattern"):
            NamirialRef(id="not-a-uuid")

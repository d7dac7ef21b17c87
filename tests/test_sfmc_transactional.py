"""sfmc_transactional: the seed's fields, CST clocks, tokens, every error, against its simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    RefNotFound,
    Status,
    Throttled,
    TransientError,
)
from sms_delivery_exporter.config import ConfigError, parse_config
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.sfmc.auth import parse_v2_token
from sms_delivery_providers.sfmc.timestamps import parse_cst
from sms_delivery_providers.sfmc_transactional.message import parse_status
from sms_delivery_providers.sfmc_transactional.provider import SfmcTransactionalProvider
from sms_delivery_providers.sfmc_transactional.ref import SfmcTransactionalRef
from sms_delivery_providers.sfmc_transactional.simulator import TransactionalSimulator
from tests.conftest import FakeClock
from tests.helpers import providers

Serve = Callable[..., Any]
Build = Callable[..., Any]

# The seed's fields at top level, made a valid answer (the seed gives only a field list).
SEED_STYLE = {
    "requestId": "c5a0d3a0-3e86-4b8a-8e36-1b1c5a0d3a0e",
    "eventCategoryType": "TransactionalSendEvents.SMSSent",
    "timestamp": "2018-08-03T13:41:18.55",
    "compositeId": "ABCDEF.1.1",
    "messageKey": "order-42-confirmation",
    "contactKey": "subscriber-7",
    "to": "15555551234",
}
NESTED = {
    "requestId": "c5a0d3a0",
    "eventCategoryType": "TransactionalSendEvents.SMSNotSent",
    "timestamp": "2018-08-03T13:41:18.557",
    "compositeId": "ABCDEF.1.1",
    "info": {
        "messageKey": "k",
        "contactKey": "c",
        "to": "1555",
        "statusCode": 1,
        "statusMessage": "Unsubscribed",
    },
}


class TestMapping:
    """eventCategoryType onto canonical statuses, reasons from statusCode."""

    @pytest.mark.parametrize(
        ("event", "status"),
        [("SMSQueued", Status.QUEUED), ("SMSSent", Status.SENT), ("SMSNotSent", Status.REJECTED)],
    )
    def test_events(self, event: str, status: Status) -> None:
        body = {**SEED_STYLE, "eventCategoryType": f"TransactionalSendEvents.{event}"}
        assert parse_status(body).status is status

    def test_sent_is_final_for_this_api(self) -> None:
        assert Status.SENT in SfmcTransactionalProvider.final_statuses

    def test_seed_style_top_level(self) -> None:
        seen = parse_status(SEED_STYLE)
        assert seen.changed_at == parse_cst("2018-08-03T13:41:18.55", "t")
        assert seen.reason is None

    @pytest.mark.parametrize(
        ("code", "message", "reason"),
        [
            (1, "Unsubscribed", "unsubscribed"),
            ("2", "Held", "held"),
            (10, "x", "missing_attributes"),
            (15, None, "unspecified_error"),
            (47, "Mobile Address not found", "address_not_found"),
            (24, "Something undocumented", "other"),
            (None, "Mobile Address not found", "address_not_found"),
        ],
    )
    def test_not_sent_reasons(self, code: object, message: str | None, reason: str) -> None:
        info = {"statusCode": code, "statusMessage": message}
        seen = parse_status({**NESTED, "info": info})
        assert seen.status is Status.REJECTED
        assert seen.reason == reason
        assert seen.code == (None if code is None else str(code))

    def test_nested_info(self) -> None:
        assert parse_status(NESTED).reason == "unsubscribed"

    @pytest.mark.parametrize("event", ["TransactionalSendEvents.SMSDelivered", None, 5])
    def test_unknown_event(self, event: object) -> None:
        with pytest.raises(BadResponse, match="eventCategoryType"):
            parse_status({**SEED_STYLE, "eventCategoryType": event})


class TestCentralStandardTime:
    """Timestamps are UTC−06:00 all year, with 2- or 3-digit fractions."""

    def test_winter_and_summer_same_offset(self) -> None:
        assert parse_cst("2026-01-15T12:00:00.00", "t") == 1768500000.0  # 18:00 UTC
        assert parse_cst("2026-07-15T12:00:00.000", "t") == 1784138400.0  # 18:00 UTC, no DST

    def test_two_digit_fraction(self) -> None:
        assert parse_cst("2018-08-03T13:41:18.55", "t") == pytest.approx(1533325278.55)

    def test_garbage_names_field(self) -> None:
        with pytest.raises(BadResponse, match="timestamp"):
            parse_cst("13:41 yesterday", "timestamp")


async def simulator_and_provider(
    serve: Serve,
    build: Build,
    scenario: Scenario | None = None,
    clock: FakeClock | None = None,
    secret: str = "s3cret",
    **options: Any,
) -> tuple[TransactionalSimulator, Any]:
    simulator = TransactionalSimulator(
        client_secret="s3cret", scenario=scenario, clock=clock if clock is not None else time.time
    )
    url = await serve(simulator.app())
    provider = build(
        SfmcTransactionalProvider,
        auth_url=f"{url}/v2/token",
        client_id=simulator.auth.client_id,
        client_secret=secret,
        **options,
    )
    return simulator, provider


def ref(key: str) -> SfmcTransactionalRef:
    return SfmcTransactionalRef(message_key=key)


class TestAgainstSimulator:
    """Statuses over a message's life, and the token flow."""

    async def test_lifecycle(self, serve: Serve, build_provider: Build, clock: FakeClock) -> None:
        scenario = Scenario(delivered=0, undelivered=0, rejected=1, reasons={"held": 1})
        simulator, provider = await simulator_and_provider(serve, build_provider, scenario, clock)
        [message] = simulator.send(1)
        seen = []
        for when, _ in message.stages:
            clock.now = when
            seen.append((await provider.fetch_one(ref(message.id))).observations[0])
        assert [o.status for o in seen] == [Status.QUEUED, Status.REJECTED]
        assert seen[-1].reason == "held"
        assert seen[-1].changed_at == pytest.approx(message.stages[-1][0], abs=0.01)

    async def test_delivered_shows_as_sent(
        self, serve: Serve, build_provider: Build, clock: FakeClock
    ) -> None:
        simulator, provider = await simulator_and_provider(
            serve, build_provider, Scenario(delivered=1, undelivered=0, rejected=0), clock
        )
        [message] = simulator.send(1)
        clock.now = message.stages[-1][0] + 1
        assert (await provider.fetch_one(ref(message.id))).observations[0].status is Status.SENT

    async def test_token_cached_and_not_stampeded(
        self, serve: Serve, build_provider: Build
    ) -> None:
        simulator, provider = await simulator_and_provider(serve, build_provider)
        messages = simulator.send(20)
        await asyncio.gather(*(provider.fetch_one(ref(m.id)) for m in messages))
        for message in messages:
            await provider.fetch_one(ref(message.id))
        assert simulator.auth.token_calls == 1

    async def test_short_lived_tokens_serve_most_of_their_life(
        self, serve: Serve, build_provider: Build
    ) -> None:
        """Tokens living one second (a fixed one-minute margin would renew them at every call)."""
        simulator, provider = await simulator_and_provider(serve, build_provider)
        simulator.auth.lifetime = 1.0
        [message] = simulator.send(1)
        started = time.monotonic()
        for _ in range(40):
            await provider.fetch_one(ref(message.id))
            await asyncio.sleep(0.05)  # the pace of polls, not a wait for state
        elapsed = time.monotonic() - started
        # Renewed when a tenth of the lifetime is left: about one token per 0.9 s, however
        # long the 40 calls took (a renewal at every call would be 40).
        assert simulator.auth.token_calls <= elapsed / 0.9 + 1

    def test_renewal_margin_grows_with_the_lifetime_up_to_a_minute(self) -> None:
        now = 1_000.0
        for lifetime, renew_after in ((1.0, 0.9), (20.0, 18.0), (1080.0, 1020.0), (3600.0, 3540.0)):
            token = parse_v2_token({"access_token": "t", "expires_in": lifetime}, now)
            assert token.renew_at - now == pytest.approx(renew_after)
            assert token.expires_at - now == lifetime

    async def test_401_renews_token_and_retries_once(
        self, serve: Serve, build_provider: Build
    ) -> None:
        simulator, provider = await simulator_and_provider(serve, build_provider)
        [message] = simulator.send(1)
        await provider.fetch_one(ref(message.id))
        simulator.auth.expire_all()
        result = await provider.fetch_one(ref(message.id))
        assert result.observations
        assert simulator.auth.token_calls == 2
        assert [code for code, _ in provider.calls].count("401") == 1

    async def test_token_refused(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await simulator_and_provider(serve, build_provider, secret="wrong")
        [message] = simulator.send(1)
        with pytest.raises(AuthFailed, match="refused the client credentials") as raised:
            await provider.fetch_one(ref(message.id))
        assert "wrong" not in str(raised.value)

    async def test_unknown_key(self, serve: Serve, build_provider: Build) -> None:
        _, provider = await simulator_and_provider(serve, build_provider)
        with pytest.raises(RefNotFound):
            await provider.fetch_one(ref("never-sent"))

    async def test_429_pause(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await simulator_and_provider(
            serve, build_provider, Scenario(throttle_rate=1, retry_after=5)
        )
        [message] = simulator.send(1)
        with pytest.raises(Throttled) as raised:
            await provider.fetch_one(ref(message.id))
        assert (raised.value.retry_after, raised.value.blocked) == (5, False)

    async def test_429_blocked(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await simulator_and_provider(
            serve, build_provider, Scenario(blocked_rate=1)
        )
        [message] = simulator.send(1)
        with pytest.raises(Throttled) as raised:
            await provider.fetch_one(ref(message.id))
        assert raised.value.blocked

    @pytest.mark.parametrize(
        ("scenario", "error", "match"),
        [
            (Scenario(error_rate=1), TransientError, "HTTP 500"),
            (Scenario(malformed_rate=1), BadResponse, "not valid JSON"),
        ],
    )
    async def test_server_errors(
        self,
        serve: Serve,
        build_provider: Build,
        scenario: Scenario,
        error: type[Exception],
        match: str,
    ) -> None:
        simulator, provider = await simulator_and_provider(serve, build_provider, scenario)
        [message] = simulator.send(1)
        with pytest.raises(error, match=match):
            await provider.fetch_one(ref(message.id))

    async def test_slow_times_out(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await simulator_and_provider(
            serve, build_provider, Scenario(slow_rate=1, slow_seconds=5), timeout="200ms"
        )
        [message] = simulator.send(1)
        with pytest.raises(TransientError) as raised:
            await provider.fetch_one(ref(message.id))
        assert raised.value.kind == "timeout"


class TestSettings:
    """The account block: token source required, tracking window within the API's 3 days."""

    def base(self) -> str:
        return (
            "accounts:\n  tx:\n    provider: sfmc_transactional\n"
            "    client_id: id\n    client_secret: s\n"
        )

    def test_subdomain_gives_token_url(self) -> None:
        config = parse_config(self.base() + "    subdomain: MC123abc\n", providers(), {})
        settings = config.accounts["tx"].settings
        assert settings.token_url() == "https://mc123abc.auth.marketingcloudapis.com/v2/token"  # type: ignore[attr-defined]

    def test_no_token_source(self) -> None:
        with pytest.raises(ConfigError, match=r"accounts\.tx: Value error, set subdomain"):
            parse_config(self.base(), providers(), {})

    def test_window_beyond_three_days(self) -> None:
        text = self.base() + "    subdomain: x\n    schedule: {tracking_window: 4d}\n"
        expected = r"accounts\.tx\.schedule\.tracking_window: Value error, at most 3d"
        with pytest.raises(ConfigError, match=expected):
            parse_config(text, providers(), {})

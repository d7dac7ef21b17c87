"""Each account's health against its provider's simulator: credentials checked without traffic,
nothing sent while paused, one episode per refusal, a dead API called a few times a minute."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sms_delivery_exporter.testing import Call, Scenario, demo_simulators
from sms_delivery_providers.d7.simulator import D7Simulator
from sms_delivery_providers.sfmc_transactional.simulator import TransactionalSimulator
from tests.conftest import API_KEY
from tests.helpers import RunningExporter, make_config, namirial_account, wait_for

Start = Callable[..., Any]


def value(exporter: RunningExporter, name: str, **labels: str) -> float | None:
    return exporter.sample(name, labels)


def account_block(name: str, simulator: Any, url: str, **overrides: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"provider": name, **simulator.account_options(url)}
    block["schedule"] = {"first_poll": "0s", "initial_interval": "100ms", "max_interval": "1s"}
    block.update(overrides)
    return block


class TestCredentialsCheckedWithoutTraffic:
    """`up` is known within seconds of start, with no message ever registered."""

    @pytest.mark.parametrize(
        "provider", ["namirial", "d7", "sfmc_transactional", "sfmc_mobileconnect"]
    )
    async def test_right_credentials_up(
        self, tmp_path: Path, serve: Start, start_exporter: Start, provider: str
    ) -> None:
        simulator = demo_simulators()[provider]()
        simulator.factory.scenario = Scenario()  # no faults
        url = await serve(simulator.app())
        config, _ = make_config(tmp_path, {"acct": account_block(provider, simulator, url)})
        exporter, _ = await start_exporter(config)
        labels = {"provider": provider, "account": "acct"}
        await wait_for(lambda: value(exporter, "sms_exporter_provider_up", **labels) == 1)
        success = value(exporter, "sms_exporter_provider_last_success_timestamp_seconds", **labels)
        assert success is not None and abs(success - time.time()) < 30
        assert await exporter.store.count_refs() == 0

    async def test_wrong_key_down_and_paused(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        _, url = await start_namirial()
        config, _ = make_config(tmp_path, {"eu": namirial_account(url, "wrong-key")})
        exporter, _ = await start_exporter(config)
        labels = {"provider": "namirial", "account": "eu"}
        await wait_for(lambda: value(exporter, "sms_exporter_provider_up", **labels) == 0)
        assert value(exporter, "sms_exporter_provider_paused", **labels, reason="auth") == 1
        # Never a success, so no timestamp: not a 0 that dashboards plot as 57 years.
        assert (
            value(exporter, "sms_exporter_provider_last_success_timestamp_seconds", **labels)
            is None
        )

    async def test_unreachable_api_down_without_a_timestamp(
        self, tmp_path: Path, start_exporter: Start
    ) -> None:
        account = namirial_account("http://127.0.0.1:9", API_KEY)  # nothing listens on port 9
        config, _ = make_config(tmp_path, {"eu": account})
        exporter, _ = await start_exporter(config)
        labels = {"provider": "namirial", "account": "eu"}
        await wait_for(lambda: value(exporter, "sms_exporter_provider_up", **labels) == 0)
        assert (
            value(exporter, "sms_exporter_provider_last_success_timestamp_seconds", **labels)
            is None
        )
        assert (
            value(exporter, "sms_exporter_provider_errors_total", **labels, kind="connection") == 1
        )

    async def test_d7_balance(self, tmp_path: Path, serve: Start, start_exporter: Start) -> None:
        simulator = D7Simulator(scenario=Scenario())
        simulator.balance = 12.5
        url = await serve(simulator.app())
        config, _ = make_config(tmp_path, {"acct": account_block("d7", simulator, url)})
        exporter, _ = await start_exporter(config)
        labels = {"provider": "d7", "account": "acct", "currency": "EUR"}
        await wait_for(lambda: value(exporter, "sms_exporter_provider_balance", **labels) == 12.5)


def quiet_between(calls: list[Call], start: float, end: float) -> list[Call]:
    """Calls that arrived strictly inside (start, end)."""
    return [call for call in calls if start < call.arrived < end]


class TestNothingSentWhilePaused:
    """Between a 429 and the end of its Retry-After, nothing reaches the provider but the
    calls already on the wire when the 429 was answered."""

    ON_THE_WIRE = 0.25
    """Calls sent just before the exporter read the 429 arrive within this (the simulator
    shares the test's event loop, which a loaded machine slows). The rest of the second
    would still see about 15 calls at the account's 20 a second were the pause ignored."""

    @pytest.mark.parametrize("provider", ["d7", "sfmc_transactional", "sfmc_mobileconnect"])
    async def test_retry_after_is_honoured(
        self, tmp_path: Path, serve: Start, start_exporter: Start, provider: str
    ) -> None:
        simulator = demo_simulators()[provider]()
        simulator.factory.scenario = Scenario(
            latency_median=60, throttle_rate=0.15, retry_after=1.0, seed=7
        )
        url = await serve(simulator.app())
        # Workers queue in the rate limiter: those waiting there when the 429 comes must not go.
        block = account_block(provider, simulator, url, rate_limit=20, concurrency=8)
        config, _ = make_config(tmp_path, {"acct": block})
        _, client = await start_exporter(config)
        sends = [simulator.demo_send() for _ in range(60)]
        body = [{"account": "acct", **send} for send in sends]
        assert (await client.post("/api/v1/messages", json=body)).status == 202
        await wait_for(
            lambda: sum(call.status == 429 for call in simulator.calls) >= 3,
            timeout=30,
            what="three 429s",
        )
        answered_429 = [call.arrived for call in simulator.calls if call.status == 429]
        for when in answered_429[:3]:
            late = quiet_between(simulator.calls, when + self.ON_THE_WIRE, when + 1.0 - 0.01)
            assert late == [], f"{len(late)} calls during a Retry-After of 1 s"


class TestRefusedCredentials:
    """Refused credentials are one episode: one token request, one step of the pause."""

    async def test_one_token_request_per_episode(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        # Queued for ten minutes: every message stays open, polled again and again.
        simulator = TransactionalSimulator(scenario=Scenario(queue_seconds=600, latency_median=600))
        url = await serve(simulator.app())
        block = account_block("sfmc_transactional", simulator, url, concurrency=6)
        config, _ = make_config(tmp_path, {"tx": block})
        exporter, client = await start_exporter(config)
        keys = [{"account": "tx", "message_key": m.id} for m in simulator.send(12)]
        assert (await client.post("/api/v1/messages", json=keys)).status == 202
        await wait_for(lambda: len(simulator.calls) > 30, what="polling under way")
        # The client secret is rotated at the provider: every token now fails, and so does
        # every call with an old one. Six polls are in flight at that moment.
        simulator.auth.client_secret = "rotated"
        simulator.auth.expire_all()
        before = simulator.auth.token_calls
        health = exporter.parts.healths["tx"]
        await wait_for(lambda: health.paused_until > time.time(), what="the auth pause")
        for _ in range(20):  # whatever was queued has met the closed gate by now
            await client.get("/-/healthy")
        assert simulator.auth.token_calls - before == 1
        assert 25 < health.paused_until - time.time() <= 30  # 30 s: one step, not doubled
        assert (
            value(exporter, "sms_exporter_provider_up", provider="sfmc_transactional", account="tx")
            == 0
        )


class TestOutage:
    """A dead API gets a call per backoff step, not the rate limit; the first answer restores
    the account."""

    async def test_backoff_during_an_outage(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        simulator, url = await start_namirial(Scenario(latency_median=600))
        config, _ = make_config(
            tmp_path, {"eu": namirial_account(url, API_KEY, rate_limit=200, concurrency=8)}
        )
        exporter, client = await start_exporter(config)
        messages = simulator.send(40)
        body = [{"account": "eu", "id": m.id} for m in messages]
        assert (await client.post("/api/v1/messages", json=body)).status == 202
        await wait_for(lambda: len(simulator.calls) > 50, what="polling under way")
        simulator.factory.scenario = Scenario(latency_median=600, error_rate=1)
        outage_start = time.time()
        await wait_for(
            lambda: (
                value(
                    exporter,
                    "sms_exporter_provider_paused",
                    provider="namirial",
                    account="eu",
                    reason="backoff",
                )
                == 1
            ),
            what="the account backing off",
        )
        await wait_for(lambda: time.time() - outage_start > 8, timeout=12, what="8 s of outage")
        during = [c for c in simulator.calls if c.arrived >= outage_start]
        # At 200 calls a second, 8 s would be 1,600 calls. Backing off (1, 2, 4 s...) leaves
        # the calls on the wire when the outage began and one probe per step.
        assert len(during) <= 8 + 8, [round(c.arrived - outage_start, 2) for c in during]
        simulator.factory.scenario = Scenario(latency_median=600)
        recovered = len(simulator.calls)
        await wait_for(
            lambda: len(simulator.calls) > recovered + 40, timeout=20, what="full speed again"
        )
        assert value(exporter, "sms_exporter_provider_up", provider="namirial", account="eu") == 1

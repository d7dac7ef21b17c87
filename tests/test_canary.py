"""The synthetic canary: Namirial's send API on the simulator, followed to its result.

One canary at a time through :class:`AccountCanary` for each outcome and send
error, then the exporter in-process: a canary sent at start shows on
``/metrics``; a block that does not say ``enabled: true`` sends nothing; the
test number appears nowhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sms_delivery_exporter.api import GENERIC_SEND_ERRORS, AnyProvider
from sms_delivery_exporter.canary import AccountCanary
from sms_delivery_exporter.canary.runner import LAST_SEND
from sms_delivery_exporter.config import ConfigError
from sms_delivery_exporter.metrics import CanaryStats
from sms_delivery_exporter.store import SqliteStore, Store
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.d7.canary import D7Canary, D7CanarySettings
from sms_delivery_providers.d7.provider import D7Provider
from sms_delivery_providers.d7.simulator import D7Simulator
from sms_delivery_providers.namirial.canary import (
    SEND_ERRORS,
    NamirialCanary,
    NamirialCanarySettings,
)
from sms_delivery_providers.namirial.provider import NamirialProvider
from sms_delivery_providers.sfmc_transactional.canary import (
    SfmcCanarySettings,
    SfmcTransactionalCanary,
)
from sms_delivery_providers.sfmc_transactional.provider import SfmcTransactionalProvider
from sms_delivery_providers.sfmc_transactional.simulator import TransactionalSimulator
from tests.conftest import API_KEY
from tests.helpers import make_config, namirial_account, parse_samples, total, wait_for

Start = Callable[..., Any]
NUMBER = "+393401234567"
FAST = Scenario(
    delivered=1, undelivered=0, rejected=0, queue_seconds=0.05, latency_median=0.2, latency_max=0.5
)


def canary_block(url: str, **overrides: Any) -> dict[str, Any]:
    block: dict[str, Any] = {
        "enabled": True,
        "to": NUMBER,
        "send_url": url,
        "username": "canary",
        "password": "canary-password",
        "deadline": "5s",
    }
    block.update(overrides)
    return block


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    """A real SQLite store, opened for the test."""
    opened = SqliteStore(tmp_path / "canary.db")
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def canary(start_namirial: Start, build_provider: Start, store: Store) -> Callable[..., Any]:
    """An AccountCanary against a simulator with the given scenario: (canary, simulator)."""

    async def make(scenario: Scenario = FAST, **overrides: Any) -> tuple[AccountCanary, Any]:
        simulator, url = await start_namirial(scenario)
        provider: AnyProvider = build_provider(NamirialProvider, base_url=url, api_key=API_KEY)
        settings = NamirialCanarySettings.model_validate(canary_block(url, **overrides))
        reasons = tuple(sorted(NamirialCanary.reasons | GENERIC_SEND_ERRORS))
        stats = CanaryStats("namirial", "eu", reasons, settings.deadline)
        sender = NamirialCanary(provider.settings, settings, provider.http)
        return (
            AccountCanary(
                account="eu",
                settings=settings,
                canary=sender,
                provider=provider,
                stats=stats,
                store=store,
            ),
            simulator,
        )

    return make


class TestOutcomes:
    """Each canary ends in exactly one result, counted as an SRE would read it."""

    async def test_delivered(self, canary: Callable[..., Any]) -> None:
        account, simulator = await canary()
        assert await account.once() == "delivered"
        assert account.stats.sent == 1
        assert account.stats.results["delivered"] == 1
        assert sum(account.stats.latencies) == 1
        assert account.stats.last_success is not None
        sent = next(iter(simulator.messages.values()))
        assert sent.number == NUMBER
        assert sent.reference == "sms-delivery-exporter-canary"

    async def test_failed(self, canary: Callable[..., Any]) -> None:
        account, _ = await canary(
            FAST.model_copy(update={"delivered": 0, "undelivered": 1, "reasons": {"spam": 1}})
        )
        assert await account.once() == "failed"
        assert account.stats.last_success is None

    async def test_timeout(self, canary: Callable[..., Any]) -> None:
        """Never final within the deadline: a timeout, not a delivery."""
        account, _ = await canary(
            FAST.model_copy(update={"delivered": 0, "stuck": 1}), deadline="1s"
        )
        assert await account.once() == "timeout"
        assert account.stats.results["timeout"] == 1
        assert sum(account.stats.latencies) == 0

    @pytest.mark.parametrize(("code", "reason"), sorted(SEND_ERRORS.items()))
    async def test_send_errors_by_reason(
        self, canary: Callable[..., Any], code: int, reason: str
    ) -> None:
        """Namirial's HTTP 500 {code, message} counted by a bounded reason."""
        account, simulator = await canary()
        simulator.send_errors.append(code)
        assert await account.once() == "send_error"
        assert account.stats.send_errors[reason] == 1
        assert account.stats.sent == 0
        assert simulator.messages == {}

    async def test_wrong_credentials(self, canary: Callable[..., Any]) -> None:
        account, _ = await canary(password="wrong")
        assert await account.once() == "send_error"
        assert account.stats.send_errors["auth"] == 1

    async def test_send_api_down(self, canary: Callable[..., Any]) -> None:
        account, _ = await canary(send_url="http://127.0.0.1:9")
        assert await account.once() == "send_error"
        assert account.stats.send_errors["connection"] == 1


class TestRateCap:
    """The last send is kept in the store: no restart sends sooner than the interval."""

    async def test_due_after_the_interval_from_the_last_send(
        self, canary: Callable[..., Any], store: Store
    ) -> None:
        account, _ = await canary()
        assert await account.due_in() <= 0  # never sent: now
        saved = time.time()
        await store.save_cursor("eu", LAST_SEND, repr(saved - 10))
        due = await account.due_in()
        # Interval 5m, sent 10 s before `saved`, less the time the two calls took.
        assert 290 - (time.time() - saved) <= due <= 290

    async def test_restart_does_not_send_again(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        simulator, url = await start_namirial(FAST)
        account = namirial_account(url, API_KEY, canary=canary_block(url, interval="15m"))
        config, _ = make_config(tmp_path, {"eu": account})
        _, client = await start_exporter(config)
        await wait_for(lambda: simulator.send_requests == 1, what="the first canary")
        await client.close()
        before = simulator.requests
        exporter, client = await start_exporter(config)
        canary_due = await exporter.store.cursor("eu", LAST_SEND)
        assert canary_due is not None
        # The second exporter's credential check, made as its canary loop starts.
        await wait_for(lambda: simulator.requests > before, what="the second exporter's probe")
        assert simulator.send_requests == 1


class TestExporter:
    async def test_canary_on_metrics_and_number_nowhere(
        self,
        tmp_path: Path,
        start_namirial: Start,
        start_exporter: Start,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.DEBUG)
        simulator, url = await start_namirial(FAST)
        simulator.send_errors.append(8)  # the first send fails; the next is a minute away
        account = namirial_account(url, API_KEY, canary=canary_block(url, interval="1m"))
        config, _ = make_config(tmp_path, {"eu": account})
        _, client = await start_exporter(config)

        async def results() -> dict[str, float]:
            page = parse_samples(await (await client.get("/metrics")).text())
            return {
                result: total(page, "sms_canary_results_total", result=result)
                for result in ("delivered", "send_error")
            }

        async def send_error_counted() -> bool:
            return (await results())["send_error"] >= 1

        await wait_for(lambda: simulator.send_requests == 1, what="a canary at start")
        await wait_for(send_error_counted, what="the failed send counted")
        page_text = await (await client.get("/metrics")).text()
        page = parse_samples(page_text)
        assert total(page, "sms_canary_send_errors_total", reason="wrong_number") == 1
        assert total(page, "sms_canary_sent_total") == 0
        assert total(page, "sms_canary_deadline_seconds") == 5
        assert NUMBER not in page_text
        assert NUMBER not in caplog.text
        assert "canary-password" not in caplog.text

    async def test_off_unless_enabled(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        simulator, url = await start_namirial(FAST)
        block = canary_block(url)
        del block["enabled"]
        account = namirial_account(url, API_KEY, canary=block)
        config, _ = make_config(tmp_path, {"eu": account})
        _, client = await start_exporter(config)
        await wait_for(lambda: simulator.requests >= 1, what="the probe")
        page = parse_samples(await (await client.get("/metrics")).text())
        assert [name for name, _ in page if name.startswith("sms_canary_")] == []
        assert simulator.send_requests == 0


class TestConfig:
    def test_number_checked_never_quoted(self, tmp_path: Path) -> None:
        block = canary_block("http://x", to="3401234567")
        with pytest.raises(ConfigError, match=r"canary\.to") as refused:
            make_config(tmp_path, {"eu": namirial_account("http://x", API_KEY, canary=block)})
        assert "3401234567" not in str(refused.value)

    def test_interval_at_least_a_minute_unless_allowed(self, tmp_path: Path) -> None:
        block = canary_block("http://x", interval="10s")
        with pytest.raises(ConfigError, match="allow_fast"):
            make_config(tmp_path, {"eu": namirial_account("http://x", API_KEY, canary=block)})
        block["allow_fast"] = True
        config, _ = make_config(
            tmp_path, {"eu": namirial_account("http://x", API_KEY, canary=block)}
        )
        assert config.accounts["eu"].canary is not None
        assert config.accounts["eu"].canary.interval == 10


class TestD7:
    """D7's canary sends with the account's token and follows the request's one message."""

    async def test_delivered_and_out_of_credit(
        self, serve: Start, build_provider: Start, store: Store
    ) -> None:
        simulator = D7Simulator(scenario=FAST.model_copy(update={"reasons": {"x": 1}}))
        url = await serve(simulator.app())
        provider: AnyProvider = build_provider(
            D7Provider, base_url=url, api_token=simulator.api_token
        )
        settings = D7CanarySettings.model_validate(
            {"enabled": True, "to": NUMBER, "deadline": "5s"}
        )
        reasons = tuple(sorted(D7Canary.reasons | GENERIC_SEND_ERRORS))
        stats = CanaryStats("d7", "d7", reasons, settings.deadline)
        account = AccountCanary(
            account="d7",
            settings=settings,
            canary=D7Canary(provider.settings, settings, provider.http),
            provider=provider,
            stats=stats,
            store=store,
        )
        assert await account.once() == "delivered"
        (request,) = simulator.requests_by_id.values()
        assert [m.number for m in request.recipients] == [NUMBER]
        simulator.out_of_credit = True
        assert await account.once() == "send_error"
        assert stats.send_errors["insufficient_credit"] == 1


class TestSfmcTransactional:
    """SFMC's canary goes through a send definition; its API stops at sent, its success."""

    async def test_sent_refused_and_unknown_definition(
        self, serve: Start, build_provider: Start, store: Store
    ) -> None:
        simulator = TransactionalSimulator(scenario=FAST.model_copy(update={"reasons": {"x": 1}}))
        url = await serve(simulator.app())
        provider: AnyProvider = build_provider(
            SfmcTransactionalProvider, **simulator.account_options(url)
        )

        def canary(**overrides: Any) -> AccountCanary:
            block = {"enabled": True, "to": NUMBER, "deadline": "5s"}
            block["definition_key"] = simulator.definition_key
            settings = SfmcCanarySettings.model_validate({**block, **overrides})
            reasons = tuple(sorted(SfmcTransactionalCanary.reasons | GENERIC_SEND_ERRORS))
            return AccountCanary(
                account="tx",
                settings=settings,
                canary=SfmcTransactionalCanary(provider.settings, settings, provider.http),
                provider=provider,
                stats=CanaryStats("sfmc_transactional", "tx", reasons, settings.deadline),
                store=store,
            )

        sent = canary()
        assert await sent.once() == "delivered"
        (message,) = simulator.messages.values()
        assert message.number == NUMBER
        assert message.id.startswith("sms-exporter-canary-")
        simulator.refuse_recipients = True
        assert await sent.once() == "send_error"
        assert sent.stats.send_errors["refused"] == 1
        unknown = canary(definition_key="nope")
        assert await unknown.once() == "send_error"
        assert unknown.stats.send_errors["invalid_request"] == 1

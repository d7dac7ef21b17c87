"""At --log.level debug, an operator can follow an account: its polls, token renewals,
pauses and credential checks; never a message id, a phone number or a secret."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.sfmc_transactional.simulator import TransactionalSimulator
from tests.helpers import wait_for
from tests.processes import ExporterProcess


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_an_account_can_be_followed(
    tmp_path: Path, serve: Callable[..., Any], session: aiohttp.ClientSession
) -> None:
    simulator = TransactionalSimulator(
        client_secret="s3cret-client-secret",
        scenario=Scenario(queue_seconds=600, throttle_rate=0.05, retry_after=0.3, seed=1),
    )
    simulator.auth.lifetime = 2.0  # tokens renewed every couple of seconds
    url = await serve(simulator.app())
    block = {
        "provider": "sfmc_transactional",
        **simulator.account_options(url),
        "schedule": {"first_poll": "0s", "initial_interval": "200ms", "max_interval": "1s"},
    }
    document = {"store": {"path": str(tmp_path / "s.db")}, "accounts": {"tx": block}}
    exporter = ExporterProcess(yaml.safe_dump(document), tmp_path)
    exporter.start()
    try:
        await exporter.ready(session)
        messages = simulator.send(10)
        await exporter.post(session, [{"account": "tx", "message_key": m.id} for m in messages])
        wanted = ("credentials checked", "token renewed", "account paused", "msg=polling ")

        def followed() -> bool:
            log = exporter.log()
            return all(line in log for line in wanted)

        await wait_for(followed, timeout=30, what=f"debug lines {wanted}")
    finally:
        assert exporter.stop() == 0
    log = exporter.log()
    [summary] = [line for line in log.splitlines() if "msg=polling " in line][:1]
    assert "account=tx" in summary and "calls=" in summary
    secrets = [
        "s3cret-client-secret",
        *simulator.auth.tokens,
        *(m.id for m in messages),
        *(m.number for m in messages),
    ]
    assert [secret for secret in secrets if secret in log] == []

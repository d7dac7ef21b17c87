"""Providers that take several refs per call get them in batches."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import yaml

from sms_delivery_exporter.api import (
    Observation,
    Provider,
    ProviderClass,
    ProviderSettings,
    RefModel,
    RefOutcome,
    RefReport,
    Status,
)
from sms_delivery_exporter.config import parse_config
from tests.helpers import providers, wait_for


class BatchRef(RefModel):
    id: str


class BatchProvider(Provider[ProviderSettings, BatchRef]):
    """A throwaway provider whose API answers ten refs per call, all delivered."""

    name = "batchy"
    Settings = ProviderSettings
    Ref = BatchRef
    reasons = frozenset()
    batch_size: ClassVar[int] = 10
    calls: ClassVar[list[int]] = []

    async def fetch(self, refs: Sequence[BatchRef]) -> list[RefOutcome]:
        self.calls.append(len(refs))
        return [
            RefReport([Observation(key="", status=Status.DELIVERED, provider_status="ok")])
            for _ in refs
        ]


async def test_refs_polled_in_batches(tmp_path: Path, start_exporter: Callable[..., Any]) -> None:
    known: dict[str, ProviderClass] = {**providers(), "batchy": BatchProvider}
    document = {
        "store": {"path": str(tmp_path / "store.db")},
        "accounts": {"b": {"provider": "batchy", "rate_limit": 1000, "concurrency": 2}},
    }
    config = parse_config(yaml.safe_dump(document), known, {})
    exporter, client = await start_exporter(config)
    # Registered with a first poll in the past (within the tracking window), so all 95
    # are due together.
    submitted = (datetime.now(UTC) - timedelta(minutes=5)).isoformat()
    body = [{"account": "b", "id": f"r{n}", "submitted_at": submitted} for n in range(95)]
    response = await client.post("/api/v1/messages", json=body)
    assert response.status == 202

    def delivered() -> float:
        labels = {"provider": "batchy", "account": "b", "channel": "sms", "status": "delivered"}
        return exporter.sample("sms_messages_final_total", labels) or 0.0

    await wait_for(lambda: delivered() == 95, what="95 delivered")
    assert sum(BatchProvider.calls) == 95
    assert max(BatchProvider.calls) == 10
    assert len(BatchProvider.calls) <= 12


class FlakyRef(RefModel):
    id: str


class FlakyProvider(Provider[ProviderSettings, FlakyRef]):
    """A throwaway provider with a bug: its first call raises something no one expected."""

    name = "flaky"
    Settings = ProviderSettings
    Ref = FlakyRef
    reasons = frozenset()
    calls: ClassVar[list[str]] = []

    async def fetch_one(self, ref: FlakyRef) -> RefReport:
        self.calls.append(ref.id)
        if len(self.calls) == 1:
            raise RuntimeError("a plugin bug")
        return RefReport([Observation(key="", status=Status.DELIVERED, provider_status="ok")])


async def test_provider_bug_does_not_stop_the_account(
    tmp_path: Path, start_exporter: Callable[..., Any]
) -> None:
    """An unexpected exception is logged and counted; the ref is polled again and finishes."""
    known: dict[str, ProviderClass] = {**providers(), "flaky": FlakyProvider}
    document = {
        "store": {"path": str(tmp_path / "store.db")},
        "accounts": {
            "f": {
                "provider": "flaky",
                "schedule": {"first_poll": "0s", "initial_interval": "50ms"},
            }
        },
    }
    exporter, client = await start_exporter(parse_config(yaml.safe_dump(document), known, {}))
    assert (await client.post("/api/v1/messages", json={"account": "f", "id": "x"})).status == 202

    def delivered() -> float:
        labels = {"provider": "flaky", "account": "f", "channel": "sms", "status": "delivered"}
        return exporter.sample("sms_messages_final_total", labels) or 0.0

    await wait_for(lambda: delivered() == 1, what="the ref delivered after the bug")
    errors = {"provider": "flaky", "account": "f", "kind": "plugin_error"}
    assert exporter.sample("sms_exporter_provider_errors_total", errors) == 1
    assert FlakyProvider.calls == ["x", "x"]

"""Shared test helpers: waiting on conditions, reading /metrics, building configs."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from sms_delivery_exporter.api import ProviderClass
from sms_delivery_exporter.app import PARTS, Parts
from sms_delivery_exporter.config import Config, parse_config
from sms_delivery_exporter.plugin_host import collect_providers, make_plugin_manager
from sms_delivery_exporter.store import Store

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def wait_for(
    check: Callable[[], Awaitable[Any]] | Callable[[], Any],
    *,
    timeout: float = 20.0,
    interval: float = 0.05,
    what: str = "condition",
) -> Any:
    """Poll a condition until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        last = result
        if result:
            return result
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def parse_samples(text: str) -> Samples:
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def total(samples: Samples, name: str, **labels: str) -> float:
    """Sum of a series' samples whose labels include the given ones."""
    wanted = set(labels.items())
    return sum(value for (n, ls), value in samples.items() if n == name and wanted <= ls)


def by_label(samples: Samples, name: str, label: str, **labels: str) -> dict[str, float]:
    """Non-zero sums of a series grouped by one label."""
    wanted = set(labels.items())
    grouped: dict[str, float] = {}
    for (n, ls), value in samples.items():
        if n == name and wanted <= ls and value:
            key = dict(ls)[label]
            grouped[key] = grouped.get(key, 0.0) + value
    return grouped


async def scrape(session: aiohttp.ClientSession, base_url: str) -> Samples:
    async with session.get(f"{base_url}/metrics") as response:
        assert response.status == 200
        return parse_samples(await response.text())


class RunningExporter:
    """An exporter a test started in-process, and what the test reads of it."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    @property
    def parts(self) -> Parts:
        return self.app[PARTS]

    @property
    def store(self) -> Store:
        return self.parts.store

    def samples(self) -> Samples:
        """Every sample of the /metrics page as a scraper would read it."""
        body, _ = self.parts.exposition.render()
        return parse_samples(body.decode())

    def sample(self, name: str, labels: Mapping[str, str] | None = None) -> float | None:
        """The sample with exactly these labels, None when absent."""
        return self.samples().get((name, frozenset((labels or {}).items())))


def config_check(
    path: Path, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``sms-delivery-exporter --config.file PATH --config.check``, as a user runs it."""
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "sms_delivery_exporter",
            "--config.file",
            str(path),
            "--config.check",
        ],
        capture_output=True,
        text=True,
        env=dict(env) if env is not None else None,
        check=False,
    )


def providers() -> dict[str, ProviderClass]:
    return collect_providers(make_plugin_manager())


def namirial_account(base_url: str, api_key: str, **overrides: Any) -> dict[str, Any]:
    """A namirial account block with a fast schedule for tests."""
    block: dict[str, Any] = {
        "provider": "namirial",
        "base_url": base_url,
        "api_key": api_key,
        "rate_limit": 500,
        "concurrency": 8,
        "timeout": "2s",
        "schedule": {"first_poll": "0s", "initial_interval": "100ms", "max_interval": "500ms"},
    }
    block.update(overrides)
    return block


def make_config(tmp_path: Path, accounts: Mapping[str, Any], **sections: Any) -> tuple[Config, str]:
    """A validated config (and its YAML text) with the store in tmp_path."""
    document = {
        "store": {"path": str(tmp_path / "store.db")},
        "accounts": dict(accounts),
        **sections,
    }
    text = yaml.safe_dump(document)
    return parse_config(text, providers(), {}), text

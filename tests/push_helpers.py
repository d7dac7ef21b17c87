"""Starting an exporter in-process with an account whose simulator posts its webhooks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sms_delivery_exporter.config import Config
from sms_delivery_exporter.testing import DemoSimulator, Scenario, demo_simulators
from tests.helpers import RunningExporter, Samples, make_config, parse_samples

Start = Callable[..., Any]
PUSHING = ("d7", "namirial", "sfmc_transactional")
"""The providers whose plugin has a push receiver and whose simulator posts webhooks."""
FAST = {"first_poll": "200ms", "initial_interval": "200ms", "max_interval": "1s"}
NEVER = {"first_poll": "1h", "initial_interval": "1h", "max_interval": "2h"}
"""A safety net beyond any test: whatever ends final, a webhook told."""
QUICK_NET = {"first_poll": "1s", "initial_interval": "1s", "growth": 1.0, "max_interval": "1s"}


@dataclass
class Pushed:
    simulator: DemoSimulator
    exporter: RunningExporter
    client: Any
    config: Config
    account: str = "acct"

    def register(self, count: int) -> list[dict[str, Any]]:
        return [{"account": self.account, **self.simulator.demo_send()} for _ in range(count)]

    async def scraped(self) -> Samples:
        """/metrics as Prometheus reads it (with a shared store's totals, read at the scrape)."""
        response = await self.client.get("/metrics")
        return parse_samples(await response.text())

    async def post(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        response = await self.client.post("/api/v1/messages", json=items)
        body: dict[str, Any] = await response.json()
        assert response.status == 202, body
        return body


def simulator_of(provider: str, **scenario: Any) -> DemoSimulator:
    """A provider's demo simulator with a quick, well-behaved scenario (then ``scenario``)."""
    simulator = demo_simulators()[provider]()
    quiet = {
        "latency_median": 0.5,
        "latency_sigma": 0.3,
        "throttle_rate": 0.0,
        "error_rate": 0.0,
        "read_share": 0.0,
        "push_delay": 0.05,
        "push_jitter": 0.2,
    }
    simulator.factory.scenario = simulator.factory.scenario.model_copy(update={**quiet, **scenario})
    return simulator


async def start_pushed(
    tmp_path: Path,
    serve: Start,
    start_exporter: Start,
    provider: str,
    *,
    safety_net: dict[str, Any] | None = None,
    scenario: dict[str, Any] | None = None,
    push: dict[str, Any] | None = None,
    schedule: dict[str, Any] | None = None,
    pushing: bool = True,
    sections: dict[str, Any] | None = None,
    **options: Any,
) -> Pushed:
    """A simulator on loopback and an exporter whose account takes its webhooks."""
    simulator = simulator_of(provider, **(scenario or {}))
    url = await serve(simulator.app())
    push_block = {**(simulator.push_options() or {}), "safety_net": safety_net or NEVER}
    block = {
        "provider": provider,
        **simulator.account_options(url),
        "schedule": schedule or FAST,
        "push": {**push_block, **(push or {})},
        **options,
    }
    config, _ = make_config(tmp_path, {"acct": block}, **(sections or {}))
    exporter, client = await start_exporter(config)
    if pushing:
        simulator.push_to(str(client.make_url("/api/v1/push/acct")))
    return Pushed(simulator, exporter, client, config)


def quiet_scenario() -> Scenario:
    return Scenario(latency_median=0.5, latency_sigma=0.3)


def status_update(simulator: Any, message: Any) -> dict[str, Any]:
    """The Namirial STATUS_UPDATE webhook body of a simulated message's last status."""
    when, _ = message.stages[-1]
    return {
        "id": f"event-{message.id}",
        "type": "STATUS_UPDATE",
        "createdAt": "2030-01-01T00:00:00Z",
        "message": simulator.render(message, at=when),
    }

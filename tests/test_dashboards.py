"""The Grafana dashboards: built from source, lint-clean, valid PromQL, only real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from sms_delivery_exporter.testing import demo_simulators
from tests.dashboard_lint import as_promql, lint, targets
from tests.helpers import parse_samples, providers, wait_for

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "prometheus" / "rules" / "sms-delivery.rules.yml"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed"
)


def load(path: Path) -> dict[str, Any]:
    board: dict[str, Any] = json.loads(path.read_text())
    return board


def all_queries() -> list[tuple[str, str]]:
    return [
        (f"{path.name}: {panel['title']} {target['refId']}", target["expr"])
        for path in DASHBOARDS
        for panel, target in targets(load(path))
    ]


def test_two_dashboards_built_from_source() -> None:
    sys.path.insert(0, str(ROOT / "grafana"))
    try:
        import build_dashboards
    finally:
        sys.path.pop(0)
    built = build_dashboards.build()
    assert sorted(built) == [path.name for path in DASHBOARDS]
    for path in DASHBOARDS:
        assert path.read_text() == build_dashboards.render(built[path.name]), (
            f"run make dashboards ({path.name})"
        )


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_lint_clean(path: Path) -> None:
    assert lint(load(path)) == []


def test_lint_catches_mistakes() -> None:
    board = load(DASHBOARDS[0])
    panel = board["panels"][3]
    panel["targets"][0]["expr"] = 'rate(sms_messages_final_total{job=~"$job"}[5m])'
    panel["fieldConfig"]["defaults"]["unit"] = "furlongs"
    panel["description"] = ""
    board["editable"] = True
    rules = {problem.split(":")[0] for problem in lint(board)}
    assert {
        "target-rate-interval-rule",
        "target-instance-rule",
        "panel-units-rule",
        "panel-title-description-rule",
        "uneditable-rule",
    } <= rules


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_variables_and_panels_complete(path: Path) -> None:
    board = load(path)
    names = [v["name"] for v in board["templating"]["list"]]
    assert names == ["datasource", "job", "instance", "provider", "account"]
    for _, target in targets(board):
        assert (
            'provider=~"$provider"' in target["expr"]
            or "sms_exporter_intake_total" in target["expr"]
        )
        assert 'account=~"$account"' in target["expr"]


@needs_promtool
def test_every_query_parses(tmp_path: Path) -> None:
    """promtool, Prometheus's own parser, reads every panel and variable query."""
    rules = [
        {"record": f"dashboard:query_{n}:check", "expr": as_promql(expr)}
        for n, (_, expr) in enumerate(all_queries())
    ]
    for path in DASHBOARDS:
        for variable in load(path)["templating"]["list"]:
            match = re.fullmatch(r"label_values\((.+), *[a-z_]+\)", str(variable.get("query", "")))
            if match:
                rules.append(
                    {
                        "record": f"dashboard:variable_{len(rules)}:check",
                        "expr": as_promql(match.group(1)),
                    }
                )
    file = tmp_path / "queries.rules.yml"
    file.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        ["promtool", "check", "rules", str(file)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def metric_names(text: str) -> set[str]:
    """Metric names in PromQL text; recording rules (with colons) are not metrics."""
    return set(re.findall(r"(?<![:\w])(sms_[a-z0-9_]+)(?![:\w])", text))


async def test_every_metric_named_is_exposed(
    tmp_path: Path, serve: Callable[..., Any], start_exporter: Callable[..., Any]
) -> None:
    """Checked against a live /metrics of an exporter polling every provider's simulator."""
    from tests.helpers import make_config

    accounts = {}
    simulators = {}
    factories = demo_simulators()
    for name in providers():
        simulator = factories[name]()
        simulator.factory.scenario = simulator.factory.scenario.model_copy(
            update={"latency_median": 0.3}
        )
        url = await serve(simulator.app())
        block = {"provider": name, **simulator.account_options(url)}
        block["schedule"] = {
            "first_poll": "0s",
            "initial_interval": "100ms",
            "max_interval": "300ms",
        }
        accounts[name] = block
        simulators[name] = simulator
    config, _ = make_config(tmp_path, accounts)
    _, client = await start_exporter(config)
    body = [
        {"account": name, **sim.demo_send()} for name, sim in simulators.items() for _ in range(20)
    ]
    assert (await client.post("/api/v1/messages", json=body)).status == 202

    async def exposed() -> set[str] | None:
        samples = parse_samples(await (await client.get("/metrics")).text())
        names = {name for name, _ in samples}
        return (
            names
            if "sms_message_cost_total" in names and "sms_messages_final_by_country_total" in names
            else None
        )

    names = await wait_for(exposed, what="cost and country series")
    named = metric_names("\n".join(expr for _, expr in all_queries())) | metric_names(
        RULES.read_text()
    )
    assert named
    assert sorted(named - names) == []
    # `up` is Prometheus's own, about the scrape; the end-to-end test sees it.

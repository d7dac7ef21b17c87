"""The Grafana dashboards: built from source, lint-clean, typed by Grafana's schema, valid
PromQL, only real metrics, and what an SRE reads on them."""

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

from monitoring.typescript import module
from sms_delivery_exporter.testing import demo_simulators
from tests.dashboard_lint import as_promql, lint, panels, targets
from tests.helpers import parse_samples, providers, wait_for

ROOT = Path(__file__).resolve().parent.parent
DASHBOARDS = sorted((ROOT / "grafana" / "dashboards").glob("*.json"))
RULES = ROOT / "prometheus" / "rules" / "sms-delivery.rules.yml"
TYPECHECK = ROOT / "grafana" / "typecheck"
TSC = TYPECHECK / "node_modules" / ".bin" / "tsc"
needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None, reason="promtool not installed"
)
needs_tsc = pytest.mark.skipif(
    not TSC.exists(), reason="TypeScript not installed (make node-tools installs it)"
)

INSTANCE_METRICS = re.compile(
    r"\b(up|scrape_duration_seconds|process_[a-z_]+|python_info|sms_exporter_build_info"
    r"|sms_exporter_scrape_duration_seconds|sms_exporter_store_size_bytes)\{"
)
"""Metrics about the exporter process: no provider or account label to filter on."""


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
    panel = next(p for p in board["panels"] if p["type"] == "timeseries")
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
    for panel, target in targets(board):
        expr = target["expr"]
        if INSTANCE_METRICS.search(expr):
            assert 'provider=~"$provider"' not in expr, panel["title"]
            continue
        assert 'provider=~"$provider"' in expr or "sms_exporter_intake_total" in expr
        assert 'account=~"$account"' in expr


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
    return set(re.findall(r"(?<![:\w])((?:sms|process)_[a-z0-9_]+|python_info)(?![:\w])", text))


async def test_every_metric_named_is_exposed(
    tmp_path: Path, serve: Callable[..., Any], start_exporter: Callable[..., Any]
) -> None:
    """Checked against a live /metrics of an exporter polling every provider's simulator,
    and taking the webhooks of those that post them."""
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
        if name == "namirial":  # the canary and discovery series, with their simulator
            block["discovery"] = {"references": ["demo"], "interval": "1s"}
            block["canary"] = {
                "enabled": True,
                "to": "+393331234567",
                "send_url": url,
                "username": "canary",
                "password": "canary-password",
            }
        if simulator.push_options() is not None:
            block["push"] = simulator.push_options()
        accounts[name] = block
        simulators[name] = simulator
    config, _ = make_config(tmp_path, accounts)
    _, client = await start_exporter(config)
    for name, simulator in simulators.items():
        if simulator.push_options() is not None:
            simulator.push_to(str(client.make_url(f"/api/v1/push/{name}")))
    body = [
        {"account": name, **sim.demo_send()} for name, sim in simulators.items() for _ in range(20)
    ]
    assert (await client.post("/api/v1/messages", json=body)).status == 202

    async def exposed() -> set[str] | None:
        samples = parse_samples(await (await client.get("/metrics")).text())
        names = {name for name, _ in samples}
        wanted = (
            "sms_message_cost_total",
            "sms_messages_final_by_country_total",
            "sms_exporter_push_last_received_timestamp_seconds",
        )
        return names if all(name in names for name in wanted) else None

    names = await wait_for(exposed, what="cost, country and webhook series")
    named = metric_names("\n".join(expr for _, expr in all_queries())) | metric_names(
        RULES.read_text()
    )
    assert named
    assert sorted(named - names) == []
    # `up` is Prometheus's own, about the scrape; the end-to-end test sees it.


def typecheck(boards: dict[str, dict[str, Any]], workdir: Path) -> subprocess.CompletedProcess[str]:
    """tsc on each dashboard as a TypeScript module typed by @grafana/schema."""
    files = []
    for name, board in boards.items():
        path = workdir / f"{name}.ts"
        schema = Path("..") / "schema" if workdir.parent == TYPECHECK else None
        assert schema is not None, "modules must live one folder below grafana/typecheck"
        path.write_text(module(board, schema.as_posix()))
        files.append(str(path))
    return subprocess.run(
        [str(TSC), "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022",
         "--module", "es2022", "--moduleResolution", "bundler",
         str(TYPECHECK / "schema.ts"), *files],
        capture_output=True, text=True, check=False, cwd=TYPECHECK,
    )  # fmt: skip


@pytest.fixture
def ts_workdir() -> Any:
    """A folder below grafana/typecheck, where module resolution finds @grafana/schema."""
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="check-", dir=TYPECHECK))
    yield folder
    shutil.rmtree(folder)


@needs_tsc
def test_dashboards_typecheck_against_grafana_schema(ts_workdir: Path) -> None:
    boards = {path.stem: load(path) for path in DASHBOARDS}
    result = typecheck(boards, ts_workdir)
    assert result.returncode == 0, result.stdout + result.stderr


@needs_tsc
@pytest.mark.parametrize(
    ("where", "mutate"),
    [
        ("dashboard", lambda board: board.update(bogus=1)),
        (
            "heatmap tooltip.show",
            lambda board: next(p for p in board["panels"] if p["type"] == "heatmap")["options"][
                "tooltip"
            ].update(show=True),
        ),
        (
            "timeseries custom field",
            lambda board: next(p for p in board["panels"] if p["type"] == "timeseries")[
                "fieldConfig"
            ]["defaults"]["custom"].update(lineWidht=2),
        ),
        (
            "stat option value",
            lambda board: next(p for p in board["panels"] if p["type"] == "stat")["options"].update(
                colorMode="rainbow"
            ),
        ),
    ],
)
def test_typecheck_flags_unknown_fields(
    ts_workdir: Path, where: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    board = load(next(p for p in DASHBOARDS if p.stem == "sms-delivery-overview"))
    mutate(board)
    result = typecheck({"mutated": board}, ts_workdir)
    assert result.returncode != 0, where
    assert "mutated.ts" in result.stdout, result.stdout


def boards() -> dict[str, dict[str, Any]]:
    return {path.stem: load(path) for path in DASHBOARDS}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_panels_sit_in_rows(path: Path) -> None:
    board = load(path)
    assert board["panels"][0]["type"] == "row"
    rows = [p["title"] for p in board["panels"] if p["type"] == "row"]
    assert len(rows) >= 4 and len(set(rows)) == len(rows)


def test_rows_per_concern() -> None:
    rows = {
        name: [p["title"] for p in board["panels"] if p["type"] == "row"]
        for name, board in boards().items()
    }
    assert rows["sms-delivery-overview"] == ["Delivery", "Failures", "Latency", "In flight", "Cost"]
    assert rows["sms-delivery-exporter-health"][-1] == "Exporter"


def test_up_panels_say_up_or_down() -> None:
    for board in boards().values():
        for panel in panels(board):
            exprs = " ".join(t["expr"] for t in panel.get("targets", []))
            if re.search(r"\b(sms_exporter_provider_up|up)\{", exprs):
                mappings = panel["fieldConfig"]["defaults"]["mappings"][0]["options"]
                assert mappings["0"]["text"] == "DOWN" and mappings["1"]["text"] == "UP"
                steps = panel["fieldConfig"]["defaults"]["thresholds"]["steps"]
                assert [s["color"] for s in steps] == ["red", "green"], panel["title"]


def test_stats_have_meaningful_thresholds_and_counts_no_decimals() -> None:
    for board in boards().values():
        for panel in panels(board):
            if panel["type"] == "row":
                continue
            defaults = panel["fieldConfig"]["defaults"]
            if panel["type"] == "stat" and defaults["unit"] == "percentunit":
                assert len(defaults["thresholds"]["steps"]) >= 3, panel["title"]
            counts = defaults["unit"] == "short" and not re.search(
                r"cost|balance", panel["title"], re.IGNORECASE
            )
            if counts:
                assert defaults.get("decimals") == 0, panel["title"]


def test_legends_tell_series_apart() -> None:
    """Every label a query groups by is in its legend: no two series look alike."""
    for board in boards().values():
        for panel, target in targets(board):
            grouped = {
                label.strip()
                for clause in re.findall(r"\bby \(([^)]*)\)", target["expr"])
                for label in clause.split(",")
            } - {"le"}
            missing = [g for g in grouped if f"{{{{{g}}}}}" not in target["legendFormat"]]
            assert missing == [], f"{panel['title']}: {target['legendFormat']}"


def test_providers_measured_differently_are_never_summed() -> None:
    """Latency and failure reasons mean different things at each provider."""
    overview = boards()["sms-delivery-overview"]
    for panel, target in targets(overview):
        expr = target["expr"]
        if re.search(r"sms_delivery_latency|sms_message_failures_total", expr):
            if panel.get("repeat") == "provider":
                continue  # one copy of the panel per provider
            clauses = re.findall(r"\bby \(([^)]*)\)", expr)
            assert clauses and all("provider" in c for c in clauses), panel["title"]
    heatmap = next(p for p in panels(overview) if p["type"] == "heatmap")
    assert heatmap["repeat"] == "provider"


def test_exporter_self_health_and_latency_trust_are_shown() -> None:
    exprs = " ".join(t["expr"] for b in boards().values() for _, t in targets(b))
    for metric in (
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_start_time_seconds",
        "sms_exporter_build_info",
        "sms_exporter_scrape_duration_seconds",
        "sms_exporter_poll_lag_seconds",
        "sms_exporter_store_size_bytes",
        "sms_delivery_latency_uncertain_total",
        "sms_messages_awaiting_read",
    ):
        assert metric in exprs, metric

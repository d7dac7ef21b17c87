"""Alert and recording rules, and every config the compose stack mounts, checked by the tools."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitoring.build import outputs
from monitoring.rules import render
from monitoring.settings import Settings
from tests.stack import scale_durations

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "prometheus"
RULES = PROMETHEUS / "rules" / "sms-delivery.rules.yml"
RUNBOOKS = ROOT / "docs" / "runbooks.md"
needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None, reason="needs promtool")


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)


def alert_rules(text: str | None = None) -> list[dict[str, Any]]:
    rules = yaml.safe_load(RULES.read_text() if text is None else text)
    return [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]


def test_committed_files_are_what_the_builder_writes() -> None:
    for relative, text in outputs(Settings()).items():
        assert (ROOT / relative).read_text() == text, f"run make monitoring ({relative})"


@needs_promtool
class TestPromtool:
    """promtool accepts the rules and their unit tests pass."""

    def test_check_rules(self) -> None:
        result = run("promtool", "check", "rules", *map(str, PROMETHEUS.glob("rules/*.yml")))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_unit_tests(self) -> None:
        files = sorted(PROMETHEUS.glob("tests/*.test.yml"))
        assert len(files) >= 3
        result = run("promtool", "test", "rules", *map(str, files))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_compose_prometheus_config(self) -> None:
        result = run("promtool", "check", "config", "prometheus.yml", cwd=PROMETHEUS)
        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        "settings",
        [
            Settings(scale=1 / 30),
            Settings(job_selector='job=~"sms-.*", env="prod"', grafana_url="https://g.example"),
        ],
        ids=["scaled", "custom-job-and-urls"],
    )
    def test_builder_options_give_valid_rules(self, settings: Settings, tmp_path: Path) -> None:
        text = render(settings)
        (tmp_path / "rules.yml").write_text(text)
        result = run("promtool", "check", "rules", str(tmp_path / "rules.yml"))
        assert result.returncode == 0, result.stdout + result.stderr
        for rule in alert_rules(text):
            assert rule["annotations"]["dashboard"].startswith(settings.grafana_url)
        selectors = re.findall(r"\b(?:sms_[a-z_]+|up|process_start_time_seconds)\{([^}]*)\}", text)
        assert selectors and all(s.startswith(settings.job_selector) for s in selectors)

    def test_scaled_rules_match_the_end_to_end_scaling(self) -> None:
        """The builder's 1/30 scale and tests/stack.py's regex agree on every window and `for`."""
        by_regex = alert_rules(scale_durations(RULES.read_text(), 1 / 30))
        built = alert_rules(render(Settings(scale=1 / 30)))
        for regex, builder in zip(by_regex, built, strict=True):
            assert seconds(regex.get("for", "0s")) == seconds(builder.get("for", "0s"))
            windows = [seconds(w) for w in re.findall(r"\[([^\]]+)\]", builder["expr"])]
            assert [seconds(w) for w in re.findall(r"\[([^\]]+)\]", regex["expr"])] == windows


def seconds(duration: str) -> int:
    amount, unit = re.fullmatch(r"(\d+)([smhd])", duration).groups()  # type: ignore[union-attr]
    return int(amount) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]


def test_every_alert_is_unit_tested_both_ways() -> None:
    """Each alert has a test where it fires and one where it must stay silent."""
    names = {rule["alert"] for rule in alert_rules()}
    fired: set[str] = set()
    silent: set[str] = set()
    for path in PROMETHEUS.glob("tests/*.test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                (fired if case.get("exp_alerts") else silent).add(case["alertname"])
    assert sorted(names - fired) == []
    assert sorted(names - silent) == []


def test_every_burn_rate_window_fires_in_a_test() -> None:
    windows = {
        (rule["labels"]["long"], rule["labels"]["short"])
        for rule in alert_rules()
        if rule["alert"] == "SMSDeliveryErrorBudgetBurn"
    }
    assert windows == {("1h", "5m"), ("6h", "30m"), ("1d", "2h"), ("3d", "6h")}
    fired = set()
    for path in PROMETHEUS.glob("tests/*.test.yml"):
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                for alert in case.get("exp_alerts") or []:
                    labels = alert["exp_labels"]
                    if "long" in labels:
                        fired.add((labels["long"], labels["short"]))
    assert fired == windows


def test_every_alert_is_documented() -> None:
    readme = (ROOT / "README.md").read_text()
    runbooks = RUNBOOKS.read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line[3:].strip().lower()).replace(" ", "-")
        for line in runbooks.splitlines()
        if line.startswith("## ")
    }
    for rule in alert_rules():
        assert rule["labels"]["severity"] in ("critical", "warning")
        annotations = rule["annotations"]
        assert {"summary", "description", "dashboard", "runbook_url"} <= set(annotations)
        assert "{{" not in annotations["summary"], f"{rule['alert']}: summaries are static"
        assert "{{" in annotations["description"], f"{rule['alert']}: descriptions templated"
        url = annotations["runbook_url"]
        assert url == f"docs/runbooks.md#{rule['alert'].lower()}"
        assert rule["alert"].lower() in headings, f"docs/runbooks.md lacks ## {rule['alert']}"
        assert f"`{rule['alert']}`" in readme


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_alertmanager_config() -> None:
    result = run("amtool", "check-config", str(ROOT / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


def test_inhibitions_are_scoped() -> None:
    """An inhibition without `equal:` lets one instance's outage silence every other."""
    config = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    assert config["inhibit_rules"]
    for rule in config["inhibit_rules"]:
        assert {"job"} <= set(rule.get("equal", [])), rule
        assert "provider" in rule["equal"] or "instance" in rule["equal"], rule


class TestCompose:
    """Every host path the compose file mounts exists; Grafana looks where the dashboards land."""

    def test_mounts_exist(self) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        assert set(compose["services"]) == {"exporter", "prometheus", "alertmanager", "grafana"}
        for service in compose["services"].values():
            for volume in service.get("volumes", []):
                host = volume.split(":")[0]
                assert (ROOT / host).exists(), host

    def test_grafana_provisioning_path(self) -> None:
        compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
        mounts = dict(v.split(":")[:2] for v in compose["services"]["grafana"]["volumes"])
        provider = yaml.safe_load(
            (ROOT / "grafana/provisioning/dashboards/sms-delivery.yml").read_text()
        )
        assert mounts["./grafana/dashboards"] == provider["providers"][0]["options"]["path"]
        datasource = yaml.safe_load(
            (ROOT / "grafana/provisioning/datasources/prometheus.yml").read_text()
        )
        assert datasource["datasources"][0]["type"] == "prometheus"

    def test_prometheus_scrapes_the_job_the_alerts_expect(self) -> None:
        config = yaml.safe_load((PROMETHEUS / "prometheus.yml").read_text())
        assert [job["job_name"] for job in config["scrape_configs"]] == ["sms-delivery-exporter"]
        assert f'job="{config["scrape_configs"][0]["job_name"]}"' == Settings().job_selector


def _alert(name: str, severity: str = "critical", **labels: str) -> dict[str, Any]:
    return {"labels": {"alertname": name, "severity": severity, "job": "sms", **labels}}


INHIBITION_CASES = {
    # One exporter down silences its own accounts' alerts, not another instance's.
    "down-a": _alert("SMSExporterDown", instance="a:1"),
    "api-a": _alert("SMSProviderAPIDown", instance="a:1", provider="d7", account="x"),
    "api-b": _alert("SMSProviderAPIDown", instance="b:1", provider="d7", account="x"),
    # The API down is the cause; blind is its symptom, on that instance only.
    "blind-b": _alert("SMSDeliveryStatusBlind", instance="b:1", provider="d7", account="x"),
    "blind-c": _alert("SMSDeliveryStatusBlind", instance="c:1", provider="d7", account="x"),
    # The spike pages; the same account's burn rate stays quiet, another account's does not.
    "spike-1": _alert("SMSUndeliveredSpike", provider="namirial", account="one"),
    "burn-1": _alert("SMSDeliveryErrorBudgetBurn", provider="namirial", account="one", long="1h"),
    "burn-2": _alert("SMSDeliveryErrorBudgetBurn", provider="namirial", account="two", long="1h"),
    "ticket-2": _alert(
        "SMSDeliveryErrorBudgetBurn", "warning", provider="namirial", account="two", long="3d"
    ),
    # Out of credit is the cause of the spike of its account.
    "credit-3": _alert("SMSAccountOutOfCredit", provider="d7", account="three"),
    "spike-3": _alert("SMSUndeliveredSpike", provider="d7", account="three"),
    # A page of one instance does not hold back a ticket of another.
    "lag-c": _alert("SMSPollLagGrowing", "warning", instance="c:1", provider="d7", account="x"),
    "lag-d": _alert("SMSPollLagGrowing", "warning", instance="d:1", provider="d7", account="x"),
}
SUPPRESSED = {"api-a", "blind-b", "burn-1", "ticket-2", "spike-3", "lag-c"}


@pytest.mark.skipif(
    shutil.which("prometheus-alertmanager") is None and shutil.which("alertmanager") is None,
    reason="needs Debian's prometheus-alertmanager (make test installs it)",
)
async def test_shipped_inhibitions_in_a_real_alertmanager(tmp_path: Path) -> None:
    """The shipped alertmanager.yml, as is: which alerts it suppresses, by what."""
    import aiohttp

    from tests.helpers import wait_for
    from tests.stack import start_alertmanager

    config = (ROOT / "alertmanager" / "alertmanager.yml").read_text()
    server = start_alertmanager(tmp_path, "", config_text=config)
    try:
        async with aiohttp.ClientSession() as session:

            async def post() -> bool:
                try:
                    body = [
                        {**a, "labels": {**a["labels"], "case": k}}
                        for k, a in INHIBITION_CASES.items()
                    ]
                    async with session.post(f"{server.url}/api/v2/alerts", json=body) as r:
                        return r.status == 200
                except aiohttp.ClientError:
                    return False

            await wait_for(post, timeout=30, interval=0.2, what="Alertmanager accepting alerts")

            async def states() -> dict[str, str] | None:
                async with session.get(f"{server.url}/api/v2/alerts") as response:
                    alerts = await response.json()
                got = {a["labels"]["case"]: a["status"]["state"] for a in alerts}
                suppressed = {case for case, state in got.items() if state == "suppressed"}
                return got if suppressed == SUPPRESSED else None

            # Inhibition applies as the alerts arrive: the deadline only covers that delay.
            got = await wait_for(states, timeout=15, interval=0.2, what="the expected suppressions")
            assert {case for case, state in got.items() if state == "active"} == (
                set(INHIBITION_CASES) - SUPPRESSED
            )
    finally:
        server.stop()

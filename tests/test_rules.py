"""Alert and recording rules, and every config the compose stack mounts, checked by the tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROMETHEUS = ROOT / "prometheus"


def run(*command: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=False)


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
class TestPromtool:
    """promtool accepts the rules and their unit tests pass."""

    def test_check_rules(self) -> None:
        result = run("promtool", "check", "rules", *map(str, PROMETHEUS.glob("rules/*.yml")))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_unit_tests(self) -> None:
        result = run("promtool", "test", "rules", *map(str, PROMETHEUS.glob("tests/*.yml")))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_every_alert_has_a_unit_test(self) -> None:
        rules = yaml.safe_load((PROMETHEUS / "rules" / "sms-delivery.rules.yml").read_text())
        alerts = {r["alert"] for group in rules["groups"] for r in group["rules"] if "alert" in r}
        tests = yaml.safe_load((PROMETHEUS / "tests" / "sms-delivery.test.yml").read_text())
        fired = {
            case["alertname"]
            for test in tests["tests"]
            for case in test.get("alert_rule_test", [])
            if case.get("exp_alerts")
        }
        assert alerts == fired

    def test_every_alert_is_documented(self) -> None:
        rules = yaml.safe_load((PROMETHEUS / "rules" / "sms-delivery.rules.yml").read_text())
        readme = (ROOT / "README.md").read_text()
        for group in rules["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    assert {"severity"} <= set(rule["labels"])
                    assert {"summary", "description", "dashboard"} <= set(rule["annotations"])
                    assert f"`{rule['alert']}`" in readme

    def test_compose_prometheus_config(self) -> None:
        result = run("promtool", "check", "config", "prometheus.yml", cwd=PROMETHEUS)
        assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")
def test_alertmanager_config() -> None:
    result = run("amtool", "check-config", str(ROOT / "alertmanager" / "alertmanager.yml"))
    assert result.returncode == 0, result.stdout + result.stderr


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

"""Real Prometheus and Alertmanager on loopback, for end-to-end alerting tests."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from sms_delivery_exporter.testing import free_port

ROOT = Path(__file__).resolve().parent.parent
SHIPPED_ALERTMANAGER = ROOT / "alertmanager" / "alertmanager.yml"
JOB = "sms-delivery-exporter"
ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_TIMERS = ("group_wait", "group_interval", "repeat_interval")


def alertmanager_binary() -> str | None:
    return next((path for name in ALERTMANAGER_BINARIES if (path := shutil.which(name))), None)


def scale_durations(rules_text: str, factor: float) -> str:
    """The rules with every range window and ``for:`` multiplied by ``factor`` (whole seconds)."""

    def scaled(amount: str, unit: str) -> str:
        return f"{max(1, round(int(amount) * _UNITS[unit] * factor))}s"

    text = re.sub(r"\[(\d+)([smhd])\]", lambda m: f"[{scaled(m.group(1), m.group(2))}]", rules_text)
    return re.sub(
        r"(\n\s*for: )(\d+)([smhd])", lambda m: m.group(1) + scaled(m.group(2), m.group(3)), text
    )


def _seconds(duration: str) -> int:
    amount, unit = re.fullmatch(r"(\d+)([smhd])", duration).groups()  # type: ignore[union-attr]
    return int(amount) * _UNITS[unit]


def shipped_alertmanager_config(receivers: dict[str, str], scale: float) -> str:
    """alertmanager/alertmanager.yml with its webhooks pointed at ``receivers`` (name -> URL)
    and its grouping timers scaled like the rules; routes and inhibitions as shipped."""
    config: dict[str, Any] = yaml.safe_load(SHIPPED_ALERTMANAGER.read_text())
    names = {receiver["name"] for receiver in config["receivers"]}
    assert names == set(receivers), f"the shipped receivers are {sorted(names)}"
    for receiver in config["receivers"]:
        for webhook in receiver["webhook_configs"]:
            webhook["url"] = receivers[receiver["name"]]

    def scale_route(route: dict[str, Any]) -> None:
        for timer in _TIMERS:
            if timer in route:
                route[timer] = f"{max(1, round(_seconds(route[timer]) * scale))}s"
        for child in route.get("routes", []):
            scale_route(child)

    scale_route(config["route"])
    return yaml.safe_dump(config, sort_keys=False)


class Server:
    """A server binary with its own port, data directory and log file."""

    def __init__(self, name: str, workdir: Path) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workdir = workdir / name
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, command: list[str]) -> None:
        log = (self.workdir / "log.txt").open("wb")
        self.process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)

    def log(self) -> str:
        return (self.workdir / "log.txt").read_text(errors="replace")[-3000:]


def start_alertmanager(workdir: Path, webhook_url: str, config_text: str | None = None) -> Server:
    """Alertmanager posting every group to ``webhook_url`` at once, or with ``config_text``."""
    server = Server("alertmanager", workdir)
    config: dict[str, Any] = {
        "route": {
            "receiver": "test",
            "group_by": ["alertname", "provider", "account"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "test", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
        ],
    }
    text = yaml.safe_dump(config) if config_text is None else config_text
    (server.workdir / "alertmanager.yml").write_text(text)
    binary = alertmanager_binary()
    assert binary is not None
    server.start(
        [
            binary,
            "--config.file=alertmanager.yml",
            f"--web.listen-address=127.0.0.1:{server.port}",
            "--cluster.listen-address=",
            f"--storage.path={server.workdir / 'data'}",
        ]
    )
    return server


class Prometheus(Server):
    """Prometheus scraping the exporters as one job, evaluating rules, alerting one Alertmanager."""

    def __init__(self, workdir: Path, *, alertmanager: str, rules: str, name: str) -> None:
        super().__init__(name, workdir)
        self.alertmanager = alertmanager
        (self.workdir / "sms.rules.yml").write_text(rules)

    def configure(self, targets: Sequence[str], *, rules: bool = True) -> None:
        """Write the config: every second a scrape of ``targets`` and, with ``rules``, an
        evaluation of the rules."""
        config: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["sms.rules.yml"] if rules else [],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [self.alertmanager]}]}]},
            "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": list(targets)}]}],
        }
        (self.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))

    def reload(self, targets: Sequence[str], *, rules: bool = True) -> None:
        """Scrape ``targets`` (and evaluate the rules) from now on."""
        assert self.process is not None
        self.configure(targets, rules=rules)
        self.process.send_signal(signal.SIGHUP)

    async def query(self, session: aiohttp.ClientSession, expr: str) -> list[dict[str, Any]]:
        """An instant query's result vector; an error answer fails the test."""
        async with session.get(f"{self.url}/api/v1/query", params={"query": expr}) as response:
            body = await response.json()
        assert body["status"] == "success", (expr, body)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


def start_prometheus(
    workdir: Path,
    *,
    targets: Sequence[str],
    alertmanager: str,
    rules: str,
    name: str = "prometheus",
    evaluate: bool = True,
) -> Prometheus:
    """Prometheus on ``targets``; without ``evaluate`` it only scrapes until reloaded."""
    server = Prometheus(workdir, alertmanager=alertmanager, rules=rules, name=name)
    server.configure(targets, rules=evaluate)
    server.start(
        [
            "prometheus",
            "--config.file=prometheus.yml",
            f"--web.listen-address=127.0.0.1:{server.port}",
            f"--storage.tsdb.path={server.workdir / 'data'}",
        ]
    )
    return server

"""Real Prometheus and Alertmanager on loopback, for end-to-end alerting tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from sms_delivery_exporter.testing import free_port

ALERTMANAGER_BINARIES = ("prometheus-alertmanager", "alertmanager")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


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


def start_prometheus(workdir: Path, *, target: str, alertmanager: str, rules: str) -> Server:
    server = Server("prometheus", workdir)
    (server.workdir / "sms.rules.yml").write_text(rules)
    config: dict[str, Any] = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["sms.rules.yml"],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]},
        "scrape_configs": [
            {"job_name": "sms-delivery-exporter", "static_configs": [{"targets": [target]}]}
        ],
    }
    (server.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    server.start(
        [
            "prometheus",
            "--config.file=prometheus.yml",
            f"--web.listen-address=127.0.0.1:{server.port}",
            f"--storage.tsdb.path={server.workdir / 'data'}",
        ]
    )
    return server

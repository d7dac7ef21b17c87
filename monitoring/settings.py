"""What a site chooses when it generates the rules: selectors, URLs, defaults, time scale."""

from __future__ import annotations

from dataclasses import dataclass

_UNITS = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))


@dataclass(frozen=True)
class Settings:
    job_selector: str = 'job="sms-delivery-exporter"'
    """Matcher(s) that select the exporter's series in every rule, e.g. ``job=~"sms-.*"``."""
    grafana_url: str = "http://localhost:3000"
    """Base of the dashboard links in alert annotations (the compose stack's Grafana)."""
    runbook_url: str = "docs/runbooks.md"
    """Base of every ``runbook_url``; each alert appends ``#<its name in lower case>``.
    Relative by default (this repository's file): set it to where your team reads it."""
    default_objective: float = 0.95
    """Objective of accounts whose exporter does not expose sms_delivery_objective_ratio."""
    scale: float = 1.0
    """Multiplies every window, ``for`` and time threshold: 1/30 turns 10m into 20s for tests."""

    def window(self, seconds: float) -> str:
        """A Prometheus duration of ``seconds`` times the scale (whole seconds, at least 1s)."""
        return duration(max(1, round(seconds * self.scale)))

    def seconds(self, seconds: float) -> int:
        """A time threshold in seconds, scaled like the windows."""
        return max(1, round(seconds * self.scale))


def duration(seconds: int) -> str:
    """Seconds as Prometheus writes durations: 3600 -> 1h, 5400 -> 90m."""
    for unit, size in _UNITS:
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    raise AssertionError("unreachable: every whole number of seconds has a unit")


MINUTE = 60
HOUR = 3600
DAY = 86400

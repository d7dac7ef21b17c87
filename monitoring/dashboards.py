"""Both dashboards, by file name under grafana/dashboards/."""

from __future__ import annotations

import json
from typing import Any

from monitoring import health_dashboard, overview
from monitoring.alert import HEALTH, OVERVIEW
from monitoring.grafana import dashboard


def build() -> dict[str, dict[str, Any]]:
    return {
        f"{OVERVIEW}.json": dashboard(
            OVERVIEW,
            "SMS delivery overview",
            "Whether SMS and RCS messages are delivered, how fast, why not, and what they cost.",
            overview.ROWS,
        ),
        f"{HEALTH}.json": dashboard(
            HEALTH,
            "SMS delivery exporter health",
            "Provider API calls, throttling and pauses, errors and intake, and the exporter "
            "process itself.",
            health_dashboard.ROWS,
        ),
    }


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"

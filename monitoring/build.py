"""Every file the builder owns, by path relative to the repository root."""

from __future__ import annotations

from pathlib import Path

from monitoring import dashboards, healthy, rules
from monitoring.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def outputs(settings: Settings) -> dict[str, str]:
    files = {f"prometheus/rules/{rules.RULES_FILE}": rules.render(settings)}
    if settings == Settings():
        # The unit tests are written for the shipped defaults (names, URLs in annotations).
        files[f"prometheus/tests/{healthy.TEST_FILE}"] = healthy.render(settings)
    for name, board in dashboards.build().items():
        files[f"grafana/dashboards/{name}"] = dashboards.render(board)
    return files

"""Writes grafana/dashboards/*.json: kept for ``python grafana/build_dashboards.py``.

The dashboards, like the rules, come from the builder in monitoring/ (``make
monitoring``); this script writes the same files.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitoring import dashboards


def build() -> dict[str, dict[str, Any]]:
    """File name to dashboard."""
    return dashboards.build()


def render(board: dict[str, Any]) -> str:
    return dashboards.render(board)


def main() -> int:
    target = Path(__file__).resolve().parent / "dashboards"
    for name, board in build().items():
        (target / name).write_text(render(board), encoding="utf-8")
        print(f"wrote {target / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

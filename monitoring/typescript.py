"""Each dashboard as a TypeScript module for ``tsc``: the JSON as object literals, each
panel passed through the constructor of its kind in grafana/typecheck/schema.ts, so
that TypeScript checks every field against @grafana/schema and flags unknown ones."""

from __future__ import annotations

import json
from typing import Any

CONSTRUCTORS = {
    "timeseries": "timeseriesPanel",
    "stat": "statPanel",
    "bargauge": "bargaugePanel",
    "heatmap": "heatmapPanel",
    "state-timeline": "stateTimelinePanel",
    "row": "rowPanel",
}


def module(board: dict[str, Any], schema_import: str) -> str:
    """``schema_import``: the path of schema.ts relative to the module, without extension."""
    top = {key: value for key, value in board.items() if key != "panels"}
    panels = []
    for panel in board["panels"]:
        constructor = CONSTRUCTORS.get(panel["type"])
        if constructor is None:
            raise ValueError(f"no schema type for panel type {panel['type']!r}: add it")
        panels.append(f"  s.{constructor}({json.dumps(panel, indent=2)}),")
    body = json.dumps(top, indent=2)[:-2]  # reopen the object to add the panels
    return (
        f"import * as s from '{schema_import}';\n\n"
        f"export default s.dashboard({body},\n"
        '  "panels": [\n' + "\n".join(panels) + "\n  ],\n});\n"
    )

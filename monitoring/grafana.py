"""Grafana dashboard JSON: panels in rows, laid out left to right, every option spelled out.

Options follow the panel plugins' schemas in npm's @grafana/schema (Grafana 11.2),
which ``make test`` type-checks each dashboard against (see monitoring/typescript.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "prometheus", "uid": "$datasource"}
SCOPE = 'job=~"$job", instance=~"$instance", provider=~"$provider", account=~"$account"'
"""The matchers of every selector of a metric with provider and account labels."""
SCOPE_NO_PROVIDER = 'job=~"$job", instance=~"$instance", account=~"$account"'
SCOPE_INSTANCE = 'job=~"$job", instance=~"$instance"'
"""Metrics of the exporter process itself: no provider, no account."""
ACCOUNT_LEGEND = "{{provider}} / {{account}}"

Steps = tuple[tuple[float | None, str], ...]
"""Threshold steps: (from value, colour); the first starts at -infinity (None)."""
UP_DOWN = {"0": ("DOWN", "red"), "1": ("UP", "green")}


def sel(metric: str, extra: str = "", scope: str = SCOPE) -> str:
    """``metric{<scope>, extra}``."""
    return f"{metric}{{{scope}{', ' + extra if extra else ''}}}"


def rate(metric: str, extra: str = "", scope: str = SCOPE) -> str:
    return f"rate({sel(metric, extra, scope)}[$__rate_interval])"


def increase_in_range(metric: str, extra: str = "", scope: str = SCOPE) -> str:
    return f"increase({sel(metric, extra, scope)}[$__range])"


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    instant: bool = False
    heatmap: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    description: str
    unit: str
    queries: tuple[Query, ...]
    kind: str = "timeseries"
    width: int = 12
    height: int = 8
    stacked: bool = False
    min: float | None = 0
    max: float | None = None
    decimals: int | None = None
    thresholds: Steps = ((None, "green"),)
    threshold_line: bool = False
    """Draw the thresholds as lines on a time series (where an alert fires)."""
    mappings: dict[str, tuple[str, str]] = field(default_factory=dict)
    """Value to (text, colour), e.g. 0 -> DOWN in red."""
    options: dict[str, Any] = field(default_factory=dict)
    """Kind-specific options merged over the defaults below."""
    repeat: str | None = None
    """A variable: one copy of the panel per selected value."""
    dashed: str | None = None
    """Regex of series names drawn dashed (references such as an objective)."""


@dataclass(frozen=True)
class Row:
    title: str
    panels: tuple[Panel, ...]


def _field_defaults(panel: Panel) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "unit": panel.unit,
        "color": {"mode": "palette-classic" if panel.kind == "timeseries" else "thresholds"},
        "thresholds": {
            "mode": "absolute",
            "steps": [{"value": value, "color": color} for value, color in panel.thresholds],
        },
        "mappings": [],
    }
    if panel.min is not None:
        defaults["min"] = panel.min
    if panel.max is not None:
        defaults["max"] = panel.max
    if panel.decimals is not None:
        defaults["decimals"] = panel.decimals
    if panel.mappings:
        defaults["mappings"] = [
            {
                "type": "value",
                "options": {
                    value: {"text": text, "color": color, "index": index}
                    for index, (value, (text, color)) in enumerate(panel.mappings.items())
                },
            }
        ]
    if panel.kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line",
            "lineWidth": 1,
            "fillOpacity": 10,
            "showPoints": "never",
            "spanNulls": False,
            "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            "thresholdsStyle": {"mode": "line" if panel.threshold_line else "off"},
        }
    elif panel.kind == "state-timeline":
        defaults["custom"] = {"fillOpacity": 80, "lineWidth": 0}
    elif panel.kind == "heatmap":
        defaults["custom"] = {"scaleDistribution": {"type": "linear"}}
    return defaults


def _options(panel: Panel) -> dict[str, Any]:
    legend = {"displayMode": "list", "placement": "bottom", "showLegend": True, "calcs": []}
    tooltip = {"mode": "multi", "sort": "desc"}
    reduce = {"calcs": ["lastNotNull"], "fields": "", "values": False}
    defaults: dict[str, dict[str, Any]] = {
        "timeseries": {"legend": legend, "tooltip": tooltip},
        "state-timeline": {
            "legend": legend,
            "tooltip": tooltip,
            "mergeValues": True,
            "rowHeight": 0.9,
            "showValue": "never",
            "alignValue": "left",
        },
        "stat": {
            "reduceOptions": reduce,
            "orientation": "auto",
            "colorMode": "background",
            "graphMode": "none",
            "justifyMode": "auto",
            "textMode": "value_and_name",
            "wideLayout": True,
            "showPercentChange": False,
        },
        "bargauge": {
            "reduceOptions": reduce,
            "orientation": "horizontal",
            "displayMode": "gradient",
            "showUnfilled": True,
            "valueMode": "color",
            "namePlacement": "auto",
            "sizing": "auto",
        },
        "heatmap": {
            "calculate": False,
            "yAxis": {"unit": panel.unit, "axisPlacement": "left", "reverse": False},
            "rowsFrame": {"layout": "auto"},
            "cellGap": 1,
            "color": {
                "mode": "scheme",
                "scheme": "Oranges",
                "steps": 64,
                "exponent": 0.5,
                "fill": "dark-orange",
                "reverse": False,
                "scale": "exponential",
            },
            "tooltip": {"mode": "single", "yHistogram": True, "showColorScale": False},
            "legend": {"show": True},
            "exemplars": {"color": "rgba(255,0,255,0.7)"},
            "showValue": "never",
            "filterValues": {"le": 1e-9},
        },
    }
    return {**defaults[panel.kind], **panel.options}


def _overrides(panel: Panel) -> list[dict[str, Any]]:
    if panel.dashed is None:
        return []
    return [
        {
            "matcher": {"id": "byRegexp", "options": panel.dashed},
            "properties": [
                {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                {"id": "custom.fillOpacity", "value": 0},
                {"id": "custom.stacking", "value": {"mode": "none", "group": "A"}},
            ],
        }
    ]


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    targets = []
    for index, query in enumerate(panel.queries):
        target: dict[str, Any] = {
            "refId": chr(ord("A") + index),
            "datasource": DATASOURCE,
            "expr": query.expr,
            "legendFormat": query.legend,
            "range": not query.instant,
            "instant": query.instant,
        }
        if query.heatmap:
            target["format"] = "heatmap"
        targets.append(target)
    out: dict[str, Any] = {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": _field_defaults(panel), "overrides": _overrides(panel)},
        "options": _options(panel),
        "targets": targets,
    }
    if panel.repeat:
        out |= {"repeat": panel.repeat, "repeatDirection": "h", "maxPerRow": 4}
    return out


def layout(rows: tuple[Row, ...]) -> list[dict[str, Any]]:
    """Rows (expanded) each followed by its panels, packed left to right, 24 columns wide."""
    laid_out: list[dict[str, Any]] = []
    next_id = 1
    y = 0
    for row in rows:
        laid_out.append(
            {
                "id": next_id,
                "type": "row",
                "title": row.title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": 24, "x": 0, "y": y},
                "panels": [],
            }
        )
        next_id += 1
        y += 1
        x = row_height = 0
        for panel in row.panels:
            if x + panel.width > 24:
                x, y, row_height = 0, y + row_height, 0
            laid_out.append(panel_json(panel, next_id, x, y))
            next_id += 1
            x += panel.width
            row_height = max(row_height, panel.height)
        y += row_height
    return laid_out


def variables() -> list[dict[str, Any]]:
    def query_var(name: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": name.title(),
            "type": "query",
            "datasource": DATASOURCE,
            "query": query,
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "allValue": ".+",
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
            "hide": 0,
            "regex": "",
            "options": [],
        }

    return [
        {
            "name": "datasource",
            "label": "Data source",
            "type": "datasource",
            "query": "prometheus",
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        query_var("job", "label_values(sms_exporter_build_info, job)"),
        query_var("instance", 'label_values(sms_exporter_build_info{job=~"$job"}, instance)'),
        query_var(
            "provider",
            "label_values(sms_messages_tracked_total"
            '{job=~"$job", instance=~"$instance"}, provider)',
        ),
        query_var(
            "account",
            "label_values(sms_messages_tracked_total"
            '{job=~"$job", instance=~"$instance", provider=~"$provider"}, account)',
        ),
    ]


def dashboard(uid: str, title: str, description: str, rows: tuple[Row, ...]) -> dict[str, Any]:
    return {
        "uid": uid,
        "id": None,
        "title": title,
        "description": description,
        "tags": ["sms", "sms-delivery-exporter"],
        "editable": False,
        "graphTooltip": 1,
        "schemaVersion": 39,
        "version": 1,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "",
        "annotations": {"list": []},
        "links": [
            {
                "title": "SMS delivery dashboards",
                "type": "dashboards",
                "tags": ["sms-delivery-exporter"],
                "asDropdown": True,
                "includeVars": True,
                "keepTime": True,
                "icon": "external link",
                "targetBlank": False,
                "tooltip": "",
                "url": "",
            }
        ],
        "templating": {"list": variables()},
        "panels": layout(rows),
    }

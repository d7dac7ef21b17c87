"""The rules of grafana/dashboard-linter, for dashboards that query Prometheus.

The linter is a Go program this machine cannot fetch; these are its rules as
its documentation and source state them (template-datasource, template-job,
template-instance, template-label-promql, panel-datasource,
panel-title-description, panel-units, target-rate-interval, target-job,
target-instance, target-counter-agg, uneditable), plus the checks the
project asks for (stable uid, null id, tags). PromQL validity is checked
separately with promtool, the real parser.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Grafana's unit ids (grafana-data valueFormats/categories.ts) that dashboards here may use.
VALID_UNITS = frozenset(
    {
        "none",
        "short",
        "percent",
        "percentunit",
        "s",
        "ms",
        "m",
        "h",
        "d",
        "dtdurations",
        "cps",
        "ops",
        "reqps",
        "rps",
        "wps",
        "iops",
        "opm",
        "rpm",
        "bytes",
        "decbytes",
        "bool",
        "bool_yes_no",
        "currencyUSD",
        "currencyEUR",
        "currencyGBP",
        "dateTimeAsIso",
        "dateTimeFromNow",
    }
)
UNIT_PANELS = frozenset({"stat", "singlestat", "graph", "table", "timeseries", "gauge", "bargauge"})
DATASOURCE_UIDS = frozenset({"$datasource", "${datasource}"})
SELECTOR = re.compile(r"\b([a-zA-Z_][a-zA-Z0-9_]*)\s*\{([^}]*)\}")
RANGE = re.compile(r"\[([^\]]+)\]")
COUNTER_IN_RANGE_FUNCTION = re.compile(
    r"\b(rate|irate|increase)\(\s*[a-zA-Z_][a-zA-Z0-9_]*_total\s*\{[^}]*\}\s*\[[^\]]+\]\s*\)"
)
FUNCTIONS_OF_RANGES = re.compile(
    r"\b(rate|irate)\(\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\{[^}]*\}\s*\[([^\]]+)\]"
)


def panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def targets(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in panels(board):
        for target in panel.get("targets", []):
            yield panel, target


def lint(board: dict[str, Any]) -> list[str]:
    """Every problem, as ``rule: where: what``."""
    problems: list[str] = []
    title = board.get("title", "?")

    def problem(rule: str, message: str) -> None:
        problems.append(f"{rule}: {title}: {message}")

    if not board.get("uid") or not re.fullmatch(r"[a-z0-9-]{1,40}", board["uid"]):
        problem("stable-uid", "needs a short, stable, lower-case uid")
    if board.get("id", 0) is not None:
        problem("null-id", "id must be null so that provisioning assigns one")
    if not board.get("tags"):
        problem("tags", "needs tags")
    if board.get("editable") is not False:
        problem("uneditable-rule", "editable must be false for provisioned dashboards")
    variables = {v.get("name"): v for v in board.get("templating", {}).get("list", [])}
    sources = [v for v in variables.values() if v.get("type") == "datasource"]
    if (
        len(sources) != 1
        or sources[0].get("name") != "datasource"
        or sources[0].get("query") != "prometheus"
    ):
        problem(
            "template-datasource-rule",
            "needs one Prometheus datasource variable named 'datasource'",
        )
    elif sources[0].get("label") not in ("Data source", "Prometheus data source"):
        problem(
            "template-datasource-rule", "the datasource variable should be labelled 'Data source'"
        )
    for name in ("job", "instance"):
        variable = variables.get(name)
        rule = f"template-{name}-rule"
        if variable is None:
            problem(rule, f"is missing the {name} template")
            continue
        if (variable.get("datasource") or {}).get("uid") not in DATASOURCE_UIDS:
            problem(rule, f"{name} template should use datasource '$datasource'")
        if variable.get("type") != "query":
            problem(rule, f"{name} template should be a Prometheus query")
        if variable.get("label") != name.title():
            problem(rule, f"{name} template should be labelled '{name.title()}'")
        if not variable.get("multi"):
            problem(rule, f"{name} template should be a multi select")
        if variable.get("allValue") != ".+":
            problem(rule, f"{name} template allValue should be '.+'")
    for variable in variables.values():
        if variable.get("type") != "query":
            continue
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else query
        if not isinstance(text, str) or not re.fullmatch(
            r"(label_names|label_values|metrics|query_result)\((.+)\)", text
        ):
            problem(
                "template-label-promql-rule",
                f"variable {variable.get('name')} has an invalid query {text!r}",
            )
    for panel in panels(board):
        where = f"panel {panel.get('title')!r}"
        if panel.get("type") == "row":
            continue
        if (panel.get("datasource") or {}).get("uid") not in DATASOURCE_UIDS:
            problem("panel-datasource-rule", f"{where} does not use the templated datasource")
        if not panel.get("title") or not panel.get("description"):
            problem("panel-title-description-rule", f"{where} needs a title and a description")
        unit = (panel.get("fieldConfig", {}).get("defaults", {})).get("unit")
        if panel.get("type") in UNIT_PANELS and unit not in VALID_UNITS:
            problem("panel-units-rule", f"{where} has unit {unit!r}, not a Grafana unit")
        if not panel.get("targets"):
            problem("panel-no-targets-rule", f"{where} has no queries")
    for panel, target in targets(board):
        where = f"panel {panel.get('title')!r} target {target.get('refId')}"
        expr = target.get("expr", "")
        if (target.get("datasource") or {}).get("uid") not in DATASOURCE_UIDS:
            problem("panel-datasource-rule", f"{where} does not use the templated datasource")
        for _, window in FUNCTIONS_OF_RANGES.findall(expr):
            if window.strip() != "$__rate_interval":
                problem(
                    "target-rate-interval-rule",
                    f"{where} should use $__rate_interval, not {window}",
                )
        for metric, matchers in SELECTOR.findall(expr):
            if metric in ("by", "without", "on", "ignoring", "group_left", "group_right"):
                continue
            for label in ("job", "instance"):
                if f'{label}=~"${label}"' not in matchers.replace(" ", ""):
                    problem(f"target-{label}-rule", f'{where}: {metric} lacks {label}=~"${label}"')
        counters = len(re.findall(r"\b[a-zA-Z_][a-zA-Z0-9_]*_total\s*\{", expr))
        if counters != len(COUNTER_IN_RANGE_FUNCTION.findall(expr)):
            problem(
                "target-counter-agg-rule",
                f"{where}: a counter is not inside rate, irate or increase",
            )
    return problems


GRAFANA_VARIABLES = {
    "$__rate_interval": "1m",
    "$__range": "1h",
    "$__interval": "1m",
}


def as_promql(expr: str, *, rate_interval: str = "1m", range_: str = "1h") -> str:
    """A target's expression with Grafana's variables replaced, for Prometheus or promtool."""
    expr = expr.replace("$__rate_interval", rate_interval).replace("$__range", range_)
    expr = expr.replace("$__interval", rate_interval)
    return re.sub(r'=~"\$[a-z_]+"', '=~".+"', expr)

"""Builds the Grafana dashboards in grafana/dashboards/ from the panel lists below.

Run ``make dashboards`` after changing a panel; a test fails while the
committed JSON differs from what this script builds. Every query filters on
the ``job``, ``instance``, ``provider`` and ``account`` variables and uses
``$__rate_interval`` in every rate, as grafana/dashboard-linter asks.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "$datasource"}
SCOPE = 'job=~"$job", instance=~"$instance", provider=~"$provider", account=~"$account"'
"""The matchers every selector of a metric with provider and account labels carries."""
SCOPE_NO_PROVIDER = 'job=~"$job", instance=~"$instance", account=~"$account"'
FAILED = 'status=~"undelivered|rejected|expired"'
FINAL = 'status=~"delivered|sent|undelivered|rejected|expired"'


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
    options: dict[str, Any] = field(default_factory=dict)
    stacked: bool = False
    max: float | None = None


def sel(metric: str, extra: str = "", scope: str = SCOPE) -> str:
    """``metric{<scope>, extra}``."""
    return f"{metric}{{{scope}{', ' + extra if extra else ''}}}"


def rate(metric: str, extra: str = "", scope: str = SCOPE) -> str:
    return f"rate({sel(metric, extra, scope)}[$__rate_interval])"


OVERVIEW = (
    Panel(
        "Delivery success ratio",
        "Share of final messages that did not fail (undelivered, rejected or expired) over the "
        "dashboard's time range. For providers that stop at 'sent' (sfmc_transactional), sent counts as success.",
        "percentunit",
        (
            Query(
                f"1 - sum by (provider, account) (increase({sel('sms_messages_final_total', FAILED)}[$__range]))"
                f" / sum by (provider, account) (increase({sel('sms_messages_final_total', FINAL)}[$__range]))",
                "{{provider}} / {{account}}",
                instant=True,
            ),
        ),
        kind="stat",
        width=8,
        options={"colorMode": "background", "graphMode": "none", "textMode": "value_and_name"},
    ),
    Panel(
        "Failed messages in range",
        "Undelivered, rejected and expired messages over the dashboard's time range.",
        "short",
        (
            Query(
                f"sum by (provider, account) (increase({sel('sms_messages_final_total', FAILED)}[$__range]))",
                "{{provider}} / {{account}}",
                instant=True,
            ),
        ),
        kind="stat",
        width=8,
        options={"colorMode": "value", "graphMode": "none", "textMode": "value_and_name"},
    ),
    Panel(
        "Oldest message in flight",
        "Age of the oldest tracked message that is not final yet, per account. A steady climb means "
        "messages are stuck or the provider stopped answering.",
        "s",
        (
            Query(
                f"max by (provider, account) ({sel('sms_oldest_in_flight_age_seconds')})",
                "{{provider}} / {{account}}",
            ),
        ),
        width=8,
    ),
    Panel(
        "Delivery success ratio over time",
        "1 - failed / final messages per account, over each rate interval.",
        "percentunit",
        (
            Query(
                f"1 - sum by (provider, account) ({rate('sms_messages_final_total', FAILED)})"
                f" / sum by (provider, account) ({rate('sms_messages_final_total', FINAL)})",
                "{{provider}} / {{account}}",
            ),
        ),
        max=1,
    ),
    Panel(
        "Final outcomes by status",
        "Messages reaching their final status, per second, by status.",
        "cps",
        (Query(f"sum by (status) ({rate('sms_messages_final_total')})", "{{status}}"),),
        stacked=True,
    ),
    Panel(
        "Failure reasons, ranked",
        "Undelivered and rejected messages over the dashboard's time range, by provider, status and reason.",
        "short",
        (
            Query(
                "sort_desc(sum by (provider, status, reason) "
                f"(increase({sel('sms_message_failures_total')}[$__range])) > 0)",
                "{{provider}} {{status}}: {{reason}}",
                instant=True,
            ),
        ),
        kind="bargauge",
        options={"displayMode": "gradient", "orientation": "horizontal", "showUnfilled": True},
    ),
    Panel(
        "Failures by reason over time",
        "Undelivered and rejected messages per second, by reason.",
        "cps",
        (Query(f"sum by (reason) ({rate('sms_message_failures_total')})", "{{reason}}"),),
        stacked=True,
    ),
    Panel(
        "Delivery latency quantiles",
        "Time from acceptance by the provider to delivery: median, 95th and 99th percentiles. "
        "namirial measures it with its own clocks; other providers with the exporter's polls.",
        "s",
        tuple(
            Query(
                f"histogram_quantile({q}, sum by (le) ({rate('sms_delivery_latency_seconds_bucket')}))",
                f"p{int(q * 100)}",
            )
            for q in (0.5, 0.95, 0.99)
        ),
    ),
    Panel(
        "Delivery latency heatmap",
        "Deliveries per latency bucket over time.",
        "s",
        (
            Query(
                f"sum by (le) ({rate('sms_delivery_latency_seconds_bucket')})",
                "{{le}}",
                heatmap=True,
            ),
        ),
        kind="heatmap",
        options={
            "calculate": False,
            "yAxis": {"unit": "s"},
            "cellGap": 1,
            "color": {"mode": "scheme", "scheme": "Oranges", "steps": 64},
            "tooltip": {"show": True, "yHistogram": True},
        },
    ),
    Panel(
        "Messages in flight by status",
        "Tracked messages not final yet: pending (registered, not yet seen by the provider), queued, sent.",
        "short",
        (Query(f"sum by (status) ({sel('sms_messages_in_flight')})", "{{status}}"),),
        stacked=True,
    ),
    Panel(
        "Registered messages",
        "Refs accepted for tracking per second (one ref may hold several recipients).",
        "cps",
        (
            Query(
                f"sum by (provider, account) ({rate('sms_messages_tracked_total')})",
                "{{provider}} / {{account}}",
            ),
        ),
    ),
    Panel(
        "Billed segments per hour",
        "Message parts the providers billed for final messages, per hour.",
        "short",
        (
            Query(
                f"3600 * sum by (provider, account) ({rate('sms_message_segments_total')})",
                "{{provider}} / {{account}}",
            ),
        ),
    ),
    Panel(
        "Cost per hour",
        "Cost the providers reported for final messages, per hour, in each account's currency.",
        "short",
        (
            Query(
                f"3600 * sum by (provider, account, currency) ({rate('sms_message_cost_total')})",
                "{{provider}} / {{account}} ({{currency}})",
            ),
        ),
    ),
    Panel(
        "RCS read receipts",
        "RCS messages read by their recipient, per second.",
        "cps",
        (
            Query(
                f"sum by (provider, account) ({rate('sms_messages_read_total')})",
                "{{provider}} / {{account}}",
            ),
        ),
    ),
)

HEALTH = (
    Panel(
        "Provider API up",
        "1 when the account's last API call got a usable answer; 0 after refused credentials, "
        "5xx answers, timeouts or unreadable answers.",
        "short",
        (
            Query(
                f"min by (provider, account) ({sel('sms_exporter_provider_up')})",
                "{{provider}} / {{account}}",
            ),
        ),
        max=1,
    ),
    Panel(
        "Time since last successful call",
        "Seconds since the provider API last answered usably. Grows while an account is down or has nothing to poll.",
        "s",
        (
            Query(
                f"time() - max by (provider, account) ({sel('sms_exporter_provider_last_success_timestamp_seconds')})",
                "{{provider}} / {{account}}",
            ),
        ),
    ),
    Panel(
        "Provider API calls by code",
        "Calls per second by HTTP status, or timeout and connection for calls that got no answer.",
        "reqps",
        (
            Query(
                f"sum by (provider, account, code) ({rate('sms_exporter_provider_requests_total')})",
                "{{account}} {{code}}",
            ),
        ),
        stacked=True,
    ),
    Panel(
        "Provider API call duration",
        "95th percentile and median duration of provider API calls.",
        "s",
        tuple(
            Query(
                f"histogram_quantile({q}, sum by (provider, account, le) "
                f"({rate('sms_exporter_provider_request_duration_seconds_bucket')}))",
                f"{{{{account}}}} p{int(q * 100)}",
            )
            for q in (0.5, 0.95)
        ),
    ),
    Panel(
        "Throttling",
        "429 answers per second from each provider.",
        "reqps",
        (
            Query(
                f"sum by (provider, account) ({rate('sms_exporter_throttled_total')})",
                "{{provider}} / {{account}}",
            ),
        ),
    ),
    Panel(
        "Accounts paused",
        "1 while an account is paused by a 429, a blocked account or refused credentials.",
        "short",
        (
            Query(
                f"max by (provider, account) ({sel('sms_exporter_provider_paused')})",
                "{{provider}} / {{account}}",
            ),
        ),
        max=1,
    ),
    Panel(
        "Poll lag",
        "How late the most overdue poll of each account is. Growing lag means the rate limit or "
        "concurrency cannot keep up with the traffic, or the account is paused.",
        "s",
        (
            Query(
                f"max by (provider, account) ({sel('sms_exporter_poll_lag_seconds')})",
                "{{provider}} / {{account}}",
            ),
        ),
    ),
    Panel(
        "Failed polls by kind",
        "Polls that failed (auth, throttled, timeout, connection, transient, bad_response) and refs "
        "given up (not_found, invalid), per second.",
        "cps",
        (
            Query(
                f"sum by (provider, account, kind) ({rate('sms_exporter_provider_errors_total')})",
                "{{account}} {{kind}}",
            ),
        ),
        stacked=True,
    ),
    Panel(
        "Intake results",
        "Items posted to the intake API per second: accepted, duplicate, sampled_out or invalid.",
        "cps",
        (
            Query(
                f"sum by (account, result) ({rate('sms_exporter_intake_total', scope=SCOPE_NO_PROVIDER)})",
                "{{account}} {{result}}",
            ),
        ),
        stacked=True,
    ),
    Panel(
        "Dropped refs and contradictions",
        "Refs given up because the provider does not know them or calls them invalid, and answers "
        "that contradicted a final status already counted.",
        "cps",
        (
            Query(
                f"sum by (provider, account, reason) ({rate('sms_exporter_refs_dropped_total')})",
                "dropped {{reason}}",
            ),
            Query(
                f"sum by (provider, account) ({rate('sms_exporter_status_contradictions_total')})",
                "contradictions",
            ),
        ),
    ),
)


def variables() -> list[dict[str, Any]]:
    def query_var(name: str, query: str) -> dict[str, Any]:
        return {
            "name": name,
            "label": name.title(),
            "type": "query",
            "datasource": DATASOURCE,
            "query": query,
            "definition": query,
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
            "current": {},
            "hide": 0,
            "refresh": 1,
            "regex": "",
            "options": [],
        },
        query_var("job", "label_values(sms_exporter_build_info, job)"),
        query_var("instance", 'label_values(sms_exporter_build_info{job=~"$job"}, instance)'),
        query_var(
            "provider",
            'label_values(sms_messages_tracked_total{job=~"$job", instance=~"$instance"}, provider)',
        ),
        query_var(
            "account",
            'label_values(sms_messages_tracked_total{job=~"$job", instance=~"$instance", provider=~"$provider"}, account)',
        ),
    ]


def panel_json(panel: Panel, panel_id: int, x: int, y: int) -> dict[str, Any]:
    defaults: dict[str, Any] = {"unit": panel.unit}
    if panel.kind == "timeseries":
        defaults |= {
            "min": 0,
            "custom": {
                "drawStyle": "line",
                "lineWidth": 1,
                "fillOpacity": 10,
                "showPoints": "never",
                "stacking": {"mode": "normal" if panel.stacked else "none", "group": "A"},
            },
        }
    if panel.max is not None:
        defaults["max"] = panel.max
    options: dict[str, Any] = dict(panel.options)
    if panel.kind == "timeseries":
        options = {
            "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
            "tooltip": {"mode": "multi", "sort": "desc"},
        }
    if panel.kind in ("stat", "bargauge"):
        options.setdefault(
            "reduceOptions", {"calcs": ["lastNotNull"], "fields": "", "values": False}
        )
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
    return {
        "id": panel_id,
        "type": panel.kind,
        "title": panel.title,
        "description": panel.description,
        "datasource": DATASOURCE,
        "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
        "fieldConfig": {"defaults": defaults, "overrides": []},
        "options": options,
        "targets": targets,
    }


def dashboard(uid: str, title: str, description: str, panels: tuple[Panel, ...]) -> dict[str, Any]:
    laid_out = []
    x = y = row_height = 0
    for panel_id, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        laid_out.append(panel_json(panel, panel_id, x, y))
        x += panel.width
        row_height = max(row_height, panel.height)
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
            }
        ],
        "templating": {"list": variables()},
        "panels": laid_out,
    }


def build() -> dict[str, dict[str, Any]]:
    """File name to dashboard."""
    return {
        "sms-delivery-overview.json": dashboard(
            "sms-delivery-overview",
            "SMS delivery overview",
            "Whether SMS and RCS messages are delivered, how fast, why not, and what they cost.",
            OVERVIEW,
        ),
        "sms-delivery-exporter-health.json": dashboard(
            "sms-delivery-exporter-health",
            "SMS delivery exporter health",
            "Provider API calls, errors, throttling, polling lag and intake of the sms-delivery-exporter.",
            HEALTH,
        ),
    }


def render(board: dict[str, Any]) -> str:
    return json.dumps(board, indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    for name, board in build().items():
        (DASHBOARDS / name).write_text(render(board), encoding="utf-8")
        print(f"wrote {DASHBOARDS / name}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

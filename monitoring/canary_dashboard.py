"""The health dashboard's row about the synthetic canary and discovery."""

from __future__ import annotations

from monitoring.grafana import Panel, Query, Row, sel

CANARY_LEGEND = "{{provider}} / {{account}} {{result}}"

CANARY_AND_DISCOVERY = Row(
    "Canary and discovery",
    (
        Panel(
            "Canary results",
            "Canaries of the last hour by outcome: delivered (within the deadline), failed "
            "(undelivered or rejected), timeout, send_error. Two failures in 30 minutes without "
            "a delivery page (SMSCanaryFailing). Only accounts with an enabled canary.",
            "short",
            (
                Query(
                    "sum by (provider, account, result) "
                    f"(increase({sel('sms_canary_results_total')}[1h]))",
                    CANARY_LEGEND,
                ),
            ),
            width=8,
            decimals=0,
            stacked=True,
        ),
        Panel(
            "Canary send errors, by reason",
            "Canary sends the send API refused (its error code, e.g. anti_flooding, auth) or "
            "that got no answer, over the last hour.",
            "short",
            (
                Query(
                    "sum by (provider, account, reason) "
                    f"(increase({sel('sms_canary_send_errors_total')}[1h]))",
                    "{{provider}} / {{account}} {{reason}}",
                ),
            ),
            width=8,
            decimals=0,
        ),
        Panel(
            "Canary delivery latency (p95)",
            "95th percentile of send to delivery of canaries delivered in time, over the last "
            "hour; the canary's deadline dashed.",
            "s",
            (
                Query(
                    "histogram_quantile(0.95, sum by (provider, account, le) "
                    f"(increase({sel('sms_canary_latency_seconds_bucket')}[1h])))",
                    "{{provider}} / {{account}}",
                ),
                Query(
                    f"max by (provider, account) ({sel('sms_canary_deadline_seconds')})",
                    "{{provider}} / {{account}} deadline",
                ),
            ),
            width=8,
            dashed=".* deadline",
        ),
        Panel(
            "Messages found by discovery, per minute",
            "Messages nobody registered that discovery found and started tracking, by feed kind "
            "(reference key, phone number, not-sent feed).",
            "short",
            (
                Query(
                    "60 * sum by (provider, account, feed) "
                    f"(rate({sel('sms_messages_tracked_from_discovery_total')}[$__rate_interval]))",
                    "{{provider}} / {{account}} {{feed}}",
                ),
            ),
            width=8,
            decimals=0,
        ),
        Panel(
            "Time since last complete discovery walk",
            "Seconds since a walk of each kind of feed last read every page it needed (or, "
            "before any did, since the exporter began walking them). The line: 15 minutes, "
            "where SMSDiscoveryStale opens a ticket.",
            "s",
            (
                Query(
                    "time() - (max by (provider, account, feed) "
                    f"({sel('sms_discovery_last_success_timestamp_seconds')}) or "
                    "max by (provider, account, feed) "
                    f"({sel('sms_discovery_walking_since_timestamp_seconds')}))",
                    "{{provider}} / {{account}} {{feed}}",
                ),
            ),
            width=8,
            thresholds=((None, "green"), (900, "red")),
            threshold_line=True,
        ),
        Panel(
            "Discovery pages, by result",
            "List pages read per second by discovery, ok or error, and walks stopped at "
            "max_pages (truncated: messages in between were not discovered).",
            "reqps",
            (
                Query(
                    "sum by (provider, account, result) "
                    f"(rate({sel('sms_discovery_pages_total')}[$__rate_interval]))",
                    "{{provider}} / {{account}} {{result}}",
                ),
                Query(
                    "sum by (provider, account) "
                    f"(rate({sel('sms_discovery_truncated_walks_total')}[$__rate_interval]))",
                    "{{provider}} / {{account}} truncated",
                ),
            ),
            width=8,
        ),
    ),
)

"""The SMS delivery overview: is it delivered, how fast, why not, at what cost."""

from __future__ import annotations

from monitoring.grafana import (
    ACCOUNT_LEGEND,
    Panel,
    Query,
    Row,
    increase_in_range,
    rate,
    sel,
)

FAILED = 'status=~"undelivered|rejected|expired"'
FINAL = 'status=~"delivered|sent|undelivered|rejected|expired"'
BY_ACCOUNT = "sum by (provider, account)"
RATIO_STEPS = ((None, "red"), (0.9, "orange"), (0.95, "green"))
KEPT = f"{BY_ACCOUNT} ({increase_in_range('sms_delivery_latency_seconds_count')})"
"""Deliveries whose latency went into the histogram."""
LATENCY_CLOCKS = (
    "namirial measures latency with its own clocks (acceptance to delivery); d7 and "
    "sfmc_mobileconnect with the exporter's polls, as precise as the polling schedule; "
    "sfmc_transactional reports no delivery at all. So every figure is per provider."
)

DELIVERY = Row(
    "Delivery",
    (
        Panel(
            "Delivery success ratio",
            "Share of final messages that did not fail (undelivered, rejected or expired) over the "
            "dashboard's time range. sfmc_transactional stops at 'sent', which counts as success.",
            "percentunit",
            (
                Query(
                    f"1 - {BY_ACCOUNT} ({increase_in_range('sms_messages_final_total', FAILED)})"
                    f" / {BY_ACCOUNT} ({increase_in_range('sms_messages_final_total', FINAL)})",
                    ACCOUNT_LEGEND,
                    instant=True,
                ),
            ),
            kind="stat",
            width=8,
            decimals=1,
            thresholds=RATIO_STEPS,
            max=1,
        ),
        Panel(
            "Error budget left (30 days)",
            "Share of each account's 30-day error budget (1 - its delivery objective) not spent by "
            "failed messages. Below zero: the objective is missed. The burn-rate alerts watch how "
            "fast it goes.",
            "percentunit",
            (
                Query(
                    f"1 - ({BY_ACCOUNT} (increase({sel('sms_messages_final_total', FAILED)}[30d]))"
                    f" / {BY_ACCOUNT} (increase({sel('sms_messages_final_total', FINAL)}[30d])))"
                    f" / on (provider, account) (1 - max by (provider, account) "
                    f"({sel('sms_delivery_objective_ratio')}))",
                    ACCOUNT_LEGEND,
                    instant=True,
                ),
            ),
            kind="stat",
            width=8,
            decimals=0,
            min=None,
            thresholds=((None, "red"), (0.25, "orange"), (0.5, "green")),
        ),
        Panel(
            "Failed messages in range",
            "Undelivered, rejected and expired messages over the dashboard's time range.",
            "short",
            (
                Query(
                    f"{BY_ACCOUNT} ({increase_in_range('sms_messages_final_total', FAILED)})",
                    ACCOUNT_LEGEND,
                    instant=True,
                ),
            ),
            kind="stat",
            width=8,
            decimals=0,
            thresholds=((None, "blue"),),
            options={"colorMode": "value"},
        ),
        Panel(
            "Delivery success ratio over time",
            "1 - failed / final messages per account over each rate interval; dashed: the "
            "account's delivery objective.",
            "percentunit",
            (
                Query(
                    f"1 - {BY_ACCOUNT} ({rate('sms_messages_final_total', FAILED)})"
                    f" / {BY_ACCOUNT} ({rate('sms_messages_final_total', FINAL)})",
                    ACCOUNT_LEGEND,
                ),
                Query(
                    f"max by (provider, account) ({sel('sms_delivery_objective_ratio')})",
                    "{{provider}} / {{account}} objective",
                ),
            ),
            min=None,
            max=1,
            dashed=".* objective",
        ),
        Panel(
            "Final outcomes by status",
            "Messages reaching their final status, per second, by provider and status.",
            "cps",
            (
                Query(
                    f"sum by (provider, status) ({rate('sms_messages_final_total')})",
                    "{{provider}} {{status}}",
                ),
            ),
            stacked=True,
        ),
    ),
)

FAILURES = Row(
    "Failures",
    (
        Panel(
            "Failure reasons, ranked",
            "Undelivered and rejected messages over the dashboard's time range, by provider, "
            "status and reason. Each provider names its own reasons (README, Failure reasons).",
            "short",
            (
                Query(
                    "sort_desc(sum by (provider, status, reason) "
                    f"({increase_in_range('sms_message_failures_total')}) > 0)",
                    "{{provider}} {{status}}: {{reason}}",
                    instant=True,
                ),
            ),
            kind="bargauge",
            decimals=0,
            thresholds=((None, "orange"),),
        ),
        Panel(
            "Failures by reason over time",
            "Undelivered and rejected messages per second, by provider and reason: the same "
            "name at two providers is two series.",
            "cps",
            (
                Query(
                    f"sum by (provider, reason) ({rate('sms_message_failures_total')})",
                    "{{provider}}: {{reason}}",
                ),
            ),
            stacked=True,
        ),
    ),
)

LATENCY = Row(
    "Latency",
    (
        Panel(
            "Delivery latency quantiles by provider",
            f"Time from acceptance by the provider to delivery: median, 95th and 99th "
            f"percentiles. {LATENCY_CLOCKS}",
            "s",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (provider, le) "
                    f"({rate('sms_delivery_latency_seconds_bucket')}))",
                    f"{{{{provider}}}} p{int(q * 100)}",
                )
                for q in (0.5, 0.95, 0.99)
            ),
        ),
        Panel(
            "Latency data kept",
            "Share of deliveries whose latency is in the histogram over the time range. The "
            "rest was left out as too uncertain: the first poll came late, polls were far apart, "
            "or the read receipt came first. Low shares make the quantiles less trustworthy.",
            "percentunit",
            (
                Query(
                    f"{KEPT} / ({KEPT} + on (provider, account) {BY_ACCOUNT} "
                    f"({increase_in_range('sms_delivery_latency_uncertain_total')}) or {KEPT})",
                    ACCOUNT_LEGEND,
                    instant=True,
                ),
            ),
            kind="stat",
            width=6,
            decimals=0,
            max=1,
            thresholds=((None, "red"), (0.5, "orange"), (0.9, "green")),
        ),
        Panel(
            "Latency left out, by cause",
            "Deliveries per second not put in the latency histogram, by provider and cause "
            "(late_first_poll, poll_gap, read_first). Provider clocks (namirial) are never "
            "left out.",
            "cps",
            (
                Query(
                    f"sum by (provider, cause) ({rate('sms_delivery_latency_uncertain_total')})",
                    "{{provider}} {{cause}}",
                ),
            ),
            width=6,
            stacked=True,
        ),
        Panel(
            "Delivery latency heatmap, $provider",
            f"Deliveries per latency bucket over time, one heatmap per provider. {LATENCY_CLOCKS}",
            "s",
            (
                Query(
                    f"sum by (le) ({rate('sms_delivery_latency_seconds_bucket')})",
                    "{{le}}",
                    heatmap=True,
                ),
            ),
            kind="heatmap",
            repeat="provider",
        ),
    ),
)

IN_FLIGHT = Row(
    "In flight",
    (
        Panel(
            "Messages in flight by status",
            "Tracked messages not final yet: pending (registered, not yet seen by the provider), "
            "queued, sent.",
            "short",
            (
                Query(
                    f"sum by (provider, status) ({sel('sms_messages_in_flight')})",
                    "{{provider}} {{status}}",
                ),
            ),
            stacked=True,
            decimals=0,
        ),
        Panel(
            "Oldest message in flight",
            "Age of the oldest tracked message that is not final yet, per account (the same "
            "messages as 'in flight'; delivered RCS waiting for a read receipt are not). A steady "
            "climb means messages are stuck or the provider stopped answering.",
            "s",
            (
                Query(
                    f"max by (provider, account) ({sel('sms_oldest_in_flight_age_seconds')})",
                    ACCOUNT_LEGEND,
                ),
            ),
        ),
        Panel(
            "Delivered RCS awaiting a read receipt",
            "Delivered RCS messages still polled for their read receipt: final already, so not "
            "in flight.",
            "short",
            (Query(f"{BY_ACCOUNT} ({sel('sms_messages_awaiting_read')})", ACCOUNT_LEGEND),),
            decimals=0,
        ),
        Panel(
            "Registered messages",
            "Refs accepted for tracking per second (one ref may hold several recipients).",
            "cps",
            (Query(f"{BY_ACCOUNT} ({rate('sms_messages_tracked_total')})", ACCOUNT_LEGEND),),
        ),
        Panel(
            "RCS read receipts",
            "RCS messages read by their recipient, per second.",
            "cps",
            (Query(f"{BY_ACCOUNT} ({rate('sms_messages_read_total')})", ACCOUNT_LEGEND),),
            width=24,
        ),
    ),
)

COST = Row(
    "Cost",
    (
        Panel(
            "Billed segments per hour",
            "Message parts the providers billed for final messages, per hour. Providers that "
            "cannot report segments (sfmc_*) have no series here: unknown, not zero.",
            "short",
            (
                Query(
                    f"3600 * {BY_ACCOUNT} ({rate('sms_message_segments_total')})",
                    ACCOUNT_LEGEND,
                ),
            ),
            width=8,
            decimals=0,
        ),
        Panel(
            "Cost per hour",
            "Cost the providers reported for final messages, per hour, in each account's "
            "currency. Only d7 reports cost; other providers have no series.",
            "short",
            (
                Query(
                    f"3600 * sum by (provider, account, currency) "
                    f"({rate('sms_message_cost_total')})",
                    "{{provider}} / {{account}} ({{currency}})",
                ),
            ),
            width=8,
        ),
        Panel(
            "Account balance",
            "Credit left on the account, where the provider's API tells (d7). At zero the "
            "provider refuses messages.",
            "short",
            (
                Query(
                    f"max by (provider, account, currency) "
                    f"({sel('sms_exporter_provider_balance')})",
                    "{{provider}} / {{account}} ({{currency}})",
                    instant=True,
                ),
            ),
            kind="stat",
            width=8,
            decimals=2,
            min=None,
            thresholds=((None, "red"), (0.01, "green")),
        ),
    ),
)

ROWS = (DELIVERY, FAILURES, LATENCY, IN_FLIGHT, COST)

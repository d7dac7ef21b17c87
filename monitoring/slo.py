"""The delivery SLO: recording rules, multiwindow multi-burn-rate alerts, and the spike page.

A message "fails" when its final status is undelivered, rejected or expired;
each account's objective is the share of final messages that must not fail
(``delivery_objective`` in the exporter's config, exposed as
sms_delivery_objective_ratio). The error budget is 1 - objective over 30 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitoring.alert import OVERVIEW, PAGE, TICKET, Alert
from monitoring.settings import DAY, HOUR, MINUTE, Settings

ACCOUNT = "job, provider, account"
FAILED = 'status=~"undelivered|rejected|expired"'
OBJECTIVE = "job_provider_account:sms_delivery_objective:ratio"
BUDGET = "job_provider_account:sms_delivery_error_budget:ratio"
SPIKE_THRESHOLD = "job_provider_account:sms_delivery_spike_threshold:ratio"


@dataclass(frozen=True)
class BurnWindow:
    """One pair of the Google SRE workbook's multiwindow, multi-burn-rate alerts."""

    long: int
    short: int
    burn: float
    """How many times faster than the objective allows the budget is spent."""
    budget_share: str
    """What share of 30 days' budget that spends over the long window (for the text)."""
    severity: str
    for_seconds: int
    min_failed: int
    """Failed messages the long window must hold: a handful of failures never pages."""


BURN_WINDOWS = (
    BurnWindow(HOUR, 5 * MINUTE, 14.4, "2%", PAGE, 2 * MINUTE, 10),
    BurnWindow(6 * HOUR, 30 * MINUTE, 6, "5%", PAGE, 15 * MINUTE, 10),
    BurnWindow(DAY, 2 * HOUR, 3, "10%", TICKET, HOUR, 20),
    BurnWindow(3 * DAY, 6 * HOUR, 1, "10%", TICKET, 3 * HOUR, 20),
)

SPIKE_WINDOW = 10 * MINUTE
SPIKE_SHORT = 5 * MINUTE
SPIKE_FLOOR = 0.2
"""The spike pages when at least this share of final messages fails ..."""
SPIKE_BURN = 4
"""... and at least this many times the account's error budget (a loose objective raises it)."""
SPIKE_MIN_FAILED = 10

WINDOWS = sorted(
    {SPIKE_WINDOW, SPIKE_SHORT} | {w.long for w in BURN_WINDOWS} | {w.short for w in BURN_WINDOWS}
)


def name(seconds: int) -> str:
    """A window's name in recording rule names: the nominal window, never the scaled one."""
    return Settings().window(seconds)


def final(seconds: int) -> str:
    return f"job_provider_account:sms_messages_final:increase{name(seconds)}"


def failed(seconds: int) -> str:
    return f"job_provider_account:sms_messages_failed:increase{name(seconds)}"


def ratio(seconds: int) -> str:
    return f"job_provider_account:sms_messages_failed:ratio_rate{name(seconds)}"


def recording_rules(settings: Settings) -> list[dict[str, Any]]:
    job = settings.job_selector
    rules: list[dict[str, Any]] = []
    for seconds in WINDOWS:
        window = settings.window(seconds)
        rules += [
            {
                "record": final(seconds),
                "expr": f"sum by ({ACCOUNT}) "
                f"(increase(sms_messages_final_total{{{job}}}[{window}]))",
            },
            {
                "record": failed(seconds),
                "expr": f"sum by ({ACCOUNT}) "
                f"(increase(sms_messages_final_total{{{job}, {FAILED}}}[{window}]))",
            },
            {"record": ratio(seconds), "expr": f"{failed(seconds)} / {final(seconds)}"},
        ]
    rules += [
        {
            # The exporter's per-account objective; accounts of an exporter that does not
            # expose it get the default, so that no account is left without burn-rate alerts.
            "record": OBJECTIVE,
            "expr": f"max by ({ACCOUNT}) (sms_delivery_objective_ratio{{{job}}})\n"
            f"or on ({ACCOUNT})\n"
            f"{settings.default_objective:g} * group by ({ACCOUNT}) "
            f"(sms_messages_final_total{{{job}}})",
        },
        {"record": BUDGET, "expr": f"1 - {OBJECTIVE}"},
        {
            "record": SPIKE_THRESHOLD,
            "expr": f"clamp_min({SPIKE_BURN} * {BUDGET}, {SPIKE_FLOOR:g})",
        },
        {
            "record": "job_provider_account_le:sms_delivery_latency_seconds_bucket:rate10m",
            "expr": f"sum by ({ACCOUNT}, le) "
            f"(rate(sms_delivery_latency_seconds_bucket{{{job}}}[{settings.window(10 * MINUTE)}]))",
        },
        {
            "record": "job_provider_account:sms_delivery_latency_seconds:p95_10m",
            "expr": "histogram_quantile(0.95, "
            "job_provider_account_le:sms_delivery_latency_seconds_bucket:rate10m)",
        },
        {
            "record": "job_provider_account:sms_delivery_latency_seconds_count:increase10m",
            "expr": f"sum by ({ACCOUNT}) "
            f"(increase(sms_delivery_latency_seconds_count{{{job}}}"
            f"[{settings.window(10 * MINUTE)}]))",
        },
    ]
    return rules


def _objective_text() -> str:
    """The account's objective, read by the alert template when the notification is rendered."""
    return (
        '{{ with printf "' + OBJECTIVE + '{job=%q,provider=%q,account=%q}" '
        "$labels.job $labels.provider $labels.account | query }}"
        "{{ . | first | value | humanizePercentage }}{{ else }}unknown{{ end }}"
    )


def burn_alert(window: BurnWindow) -> Alert:
    long, short = name(window.long), name(window.short)
    threshold = f"on ({ACCOUNT}) ({window.burn:g} * {BUDGET})"
    expr = (
        f"{ratio(window.long)} > {threshold}\n"
        f"and on ({ACCOUNT})\n"
        f"{ratio(window.short)} > {threshold}\n"
        f"and on ({ACCOUNT})\n"
        f"{failed(window.long)} >= {window.min_failed}"
    )
    paging = window.severity == PAGE
    return Alert(
        name="SMSDeliveryErrorBudgetBurn",
        expr=expr,
        for_seconds=window.for_seconds,
        severity=window.severity,
        labels={"long": long, "short": short},
        summary=(
            "SMS delivery failures are spending the error budget fast"
            if paging
            else "SMS delivery failures are spending the error budget"
        ),
        description=(
            f"{{{{ $value | humanizePercentage }}}} of the final messages of account "
            f"{{{{ $labels.account }}}} ({{{{ $labels.provider }}}}) failed over the last {long}, "
            f"and more than {window.burn:g} times the error budget still fails over the last "
            f"{short}: at this pace {window.budget_share} of 30 days' budget goes in {long} "
            f"(objective {_objective_text()} delivered)."
        ),
        dashboard=OVERVIEW,
    )


def spike_alert(settings: Settings) -> Alert:
    threshold = f"on ({ACCOUNT}) {SPIKE_THRESHOLD}"
    return Alert(
        name="SMSUndeliveredSpike",
        expr=(
            f"{ratio(SPIKE_WINDOW)} > {threshold}\n"
            f"and on ({ACCOUNT})\n"
            f"{ratio(SPIKE_SHORT)} > {threshold}\n"
            f"and on ({ACCOUNT})\n"
            f"{failed(SPIKE_WINDOW)} >= {SPIKE_MIN_FAILED}"
        ),
        for_seconds=5 * MINUTE,
        severity=PAGE,
        summary="Many SMS are failing right now",
        description=(
            "{{ $value | humanizePercentage }} of the final messages of account "
            "{{ $labels.account }} ({{ $labels.provider }}) failed (undelivered, rejected or "
            "expired) over the last 10 minutes, and still over the last 5. "
            "See the failure reasons of the account on the dashboard."
        ),
        dashboard=OVERVIEW,
    )


def out_of_credit_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    w = settings.window(10 * MINUTE)
    credit = (
        f"sum by ({ACCOUNT}) "
        f'(increase(sms_message_failures_total{{{job}, reason="insufficient_credit"}}[{w}]))'
    )
    payment = (
        f"sum by ({ACCOUNT}) "
        f'(increase(sms_exporter_provider_errors_total{{{job}, kind="payment_required"}}[{w}]))'
    )
    calls = f"sum by ({ACCOUNT}) (increase(sms_exporter_provider_requests_total{{{job}}}[{w}]))"
    sending = (
        f"sum by ({ACCOUNT}) "
        f"(increase(sms_messages_tracked_total{{{job}}}[{settings.window(HOUR)}])) > 0"
    )
    return Alert(
        name="SMSAccountOutOfCredit",
        expr=(
            f"# a share of the final messages rejected for insufficient credit,\n"
            f"({credit} / on ({ACCOUNT}) {final(SPIKE_WINDOW)} > {SPIKE_FLOOR:g}"
            f" and {credit} >= {SPIKE_MIN_FAILED})\n"
            f"# or of the API calls answered 402 Payment Required,\n"
            f"or ({payment} / {calls} > {SPIKE_FLOOR:g} and {payment} >= 5)\n"
            f"# or no balance left on an account that is sending\n"
            f"or (max by ({ACCOUNT}) (sms_exporter_provider_balance{{{job}}}) <= 0"
            f" and on ({ACCOUNT}) {sending})"
        ),
        # Shorter than the spike's, so the cause pages first and inhibits the symptom.
        for_seconds=2 * MINUTE,
        severity=PAGE,
        summary="An SMS account is out of credit",
        description=(
            "The provider {{ $labels.provider }} refuses messages or calls of account "
            "{{ $labels.account }} for lack of credit (insufficient_credit rejections, "
            "402 answers or a balance at or below zero). Top the account up."
        ),
        dashboard=OVERVIEW,
    )


LATENCY_LIMIT = 2 * MINUTE
"""p95 delivery latency above which SMSDeliveryLatencyHigh opens a ticket."""


def latency_alert(settings: Settings) -> Alert:
    # Scaled like the windows: in a test whose time runs 60 times faster, messages
    # that take 2 minutes take 2 seconds (the simulators' latencies are scaled too).
    limit = settings.seconds(LATENCY_LIMIT)
    return Alert(
        name="SMSDeliveryLatencyHigh",
        expr=(
            f"job_provider_account:sms_delivery_latency_seconds:p95_10m > {limit}\n"
            f"and on ({ACCOUNT})\n"
            "job_provider_account:sms_delivery_latency_seconds_count:increase10m >= 20"
        ),
        for_seconds=15 * MINUTE,
        severity=TICKET,
        summary="SMS take long to be delivered",
        description=(
            "95% of the messages of account {{ $labels.account }} ({{ $labels.provider }}) "
            "delivered over the last 10 minutes took up to {{ $value | humanizeDuration }}, "
            "more than 2 minutes. Latency is measured by the provider's clocks (namirial) or "
            "by the exporter's polls (d7, sfmc_mobileconnect)."
        ),
        dashboard=OVERVIEW,
    )


def delivery_alerts(settings: Settings) -> list[Alert]:
    return [
        spike_alert(settings),
        *(burn_alert(window) for window in BURN_WINDOWS),
        out_of_credit_alert(settings),
        latency_alert(settings),
    ]

"""Alerts about the synthetic canary and discovery.

Only accounts whose canary is enabled have ``sms_canary_results_total`` (zero
from the start), and only accounts with a ``discovery:`` block have
``sms_discovery_walking_since_timestamp_seconds`` (from the leader's first
walk) and ``sms_discovery_last_success_timestamp_seconds`` (from the first
complete one): these alerts never concern the others. A failing canary pages:
in low traffic it is the only end-to-end signal. One failed canary does not:
it takes two results without a single
delivery in the window (the canary sends every 5 minutes by default, and
``canary.interval`` is at most 15 minutes, so that two failures fit the window).
The API down, a blocked account or no credit inhibit it in Alertmanager: their
pages name the cause of the canaries' failures.
Both aggregate over replicas: only the leader sends and discovers.
"""

from __future__ import annotations

from monitoring.alert import HEALTH, PAGE, TICKET, Alert
from monitoring.health_alerts import ACCOUNT
from monitoring.settings import MINUTE, Settings

CANARY_WINDOW = 30 * MINUTE
DELIVERED = 'result="delivered"'
NOT_DELIVERED = 'result!="delivered"'
DISCOVERY_STALE_AFTER = 15 * MINUTE
"""No complete walk of a feed for this long opens a ticket; it must exceed the longest
``discovery.interval`` (30s by default)."""


def canary_failing_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    window = settings.window(CANARY_WINDOW)

    def results(matcher: str) -> str:
        return (
            f"sum by ({ACCOUNT}) (increase(sms_canary_results_total{{{job}, {matcher}}}[{window}]))"
        )

    return Alert(
        name="SMSCanaryFailing",
        expr=(f"{results(NOT_DELIVERED)} >= 2\nand on ({ACCOUNT})\n{results(DELIVERED)} < 0.5"),
        for_seconds=5 * MINUTE,
        severity=PAGE,
        summary="Canary SMS are not delivered",
        description=(
            "{{ $value | humanize }} canary messages of account {{ $labels.account }} "
            "({{ $labels.provider }}) failed in the last 30 minutes (send refused, undelivered, "
            "or not delivered within the canary's deadline) and none was delivered: the "
            "provider's send-to-handset path is broken for this account, whatever the "
            "application traffic says."
        ),
        dashboard=HEALTH,
    )


def discovery_stale_alert(settings: Settings) -> Alert:
    job = settings.job_selector

    def latest(gauge: str) -> str:
        return f"max by ({ACCOUNT}, feed) ({gauge}{{{job}}})"

    # Since the last complete walk, or, before any, since the leader began walking: a
    # feed that fails from the start is as stale as one that stopped.
    return Alert(
        name="SMSDiscoveryStale",
        expr=(
            f"time() - (\n  {latest('sms_discovery_last_success_timestamp_seconds')}\n  or\n"
            f"  {latest('sms_discovery_walking_since_timestamp_seconds')}\n)"
            f" > {settings.seconds(DISCOVERY_STALE_AFTER)}"
        ),
        for_seconds=5 * MINUTE,
        severity=TICKET,
        summary="Discovery of unregistered SMS has stopped",
        description=(
            "No walk of the {{ $labels.feed }} feeds of account {{ $labels.account }} "
            "({{ $labels.provider }}) has completed for {{ $value | humanizeDuration }} (counted "
            "from the last that did, or from the first the exporter tried): its list "
            "calls fail, the account is paused, or walks stop at discovery.max_pages. "
            "Messages nobody registered are not being tracked."
        ),
        dashboard=HEALTH,
    )


def canary_alerts(settings: Settings) -> list[Alert]:
    return [canary_failing_alert(settings), discovery_stale_alert(settings)]

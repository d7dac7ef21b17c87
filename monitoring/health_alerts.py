"""Alerts about the provider APIs, the polling, and the exporter process.

The alerts about an account aggregate over the exporter's replicas (PostgreSQL
mode runs several; SQLite mode one): each replica calls the API for the
account, and only the leader serves the store's series (in flight, tracked,
final, poll lag), so they are about the account, without an ``instance``
label, and a leader change never splits their windows. The alerts about the
exporter process (down, absent) stay per instance, and the Alertmanager
inhibitions compare ``instance`` (``equal:``) so that one instance's outage
never silences another's alerts.
"""

from __future__ import annotations

from monitoring.alert import HEALTH, OVERVIEW, PAGE, TICKET, Alert
from monitoring.settings import MINUTE, Settings

ACCOUNT = "job, provider, account"

BLIND_AFTER = 15 * MINUTE
"""No usable answer for this long pages. It must exceed the longest schedule.max_interval
of any account (5m by default), or an account polling only old messages would page."""


def blind_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    in_flight = f"sum by ({ACCOUNT}) (sms_messages_in_flight{{{job}}}) > 0"
    # The last usable answer any replica got.
    since_success = (
        f"time() - max by ({ACCOUNT}) "
        f"(sms_exporter_provider_last_success_timestamp_seconds{{{job}}})"
    )
    # No usable answer yet on any replica: as old as the oldest replica.
    never = (
        f"0 * ({in_flight})\n"
        f"  + on (job) group_left ()\n"
        f"  (time() - min by (job) (process_start_time_seconds{{{job}}}))"
    )
    return Alert(
        name="SMSDeliveryStatusBlind",
        expr=(
            f"(\n  {since_success}\n  or on ({ACCOUNT})\n  {never}\n)"
            f" > {settings.seconds(BLIND_AFTER)}\n"
            f"and on ({ACCOUNT})\n{in_flight}"
        ),
        for_seconds=2 * MINUTE,
        severity=PAGE,
        summary="Delivery status of SMS in flight is unknown",
        description=(
            "No exporter replica has had a usable answer from {{ $labels.provider }} for "
            "account {{ $labels.account }} for {{ $value | humanizeDuration }} while messages "
            "wait for their status: 429s, 5xx, refused credentials, timeouts or a pause. "
            "Nothing about these messages is known, failures included."
        ),
        dashboard=HEALTH,
    )


def api_down_alert(settings: Settings) -> Alert:
    window = settings.window(5 * MINUTE)
    return Alert(
        name="SMSProviderAPIDown",
        # Every sample of every replica 0 over the window, for a while: one failed call never
        # pages, nor one replica's own network trouble while the others reach the API.
        expr=(
            f"max by ({ACCOUNT}) "
            f"(max_over_time(sms_exporter_provider_up{{{settings.job_selector}}}[{window}])) == 0"
        ),
        for_seconds=5 * MINUTE,
        severity=PAGE,
        summary="A provider API is down or refuses the credentials",
        description=(
            "Every call of every exporter replica to the {{ $labels.provider }} API for account "
            "{{ $labels.account }} failed for at least 10 minutes: refused credentials, 5xx "
            "answers, timeouts, refused connections or unreadable answers. Delivery status of "
            "this account is not being updated."
        ),
        dashboard=HEALTH,
    )


def blocked_alert(settings: Settings) -> Alert:
    window = settings.window(15 * MINUTE)
    return Alert(
        name="SMSAccountBlocked",
        # Paused most of the window, and answered "blocked" more than once: a single answer
        # right after a start would otherwise fill a window that holds little else.
        expr=(
            f"max by ({ACCOUNT}) (avg_over_time(sms_exporter_provider_paused"
            f'{{{settings.job_selector}, reason="blocked"}}[{window}])) > 0.5\n'
            f"and on ({ACCOUNT})\n"
            f"sum by ({ACCOUNT}) (increase(sms_exporter_provider_errors_total"
            f'{{{settings.job_selector}, kind="blocked"}}[{window}])) >= 2'
        ),
        for_seconds=5 * MINUTE,
        severity=PAGE,
        summary="A provider has blocked an SMS account",
        description=(
            "{{ $labels.provider }} answers that account {{ $labels.account }} is blocked: "
            "the exporter has been paused for it {{ $value | humanizePercentage }} of "
            "the last 15 minutes. Ask the provider why (limits, billing, abuse reports)."
        ),
        dashboard=HEALTH,
    )


def throttling_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    window = settings.window(15 * MINUTE)
    calls = (
        f"sum by ({ACCOUNT}) (increase(sms_exporter_provider_requests_total{{{job}}}[{window}]))"
    )
    throttled = f"sum by ({ACCOUNT}) (increase(sms_exporter_throttled_total{{{job}}}[{window}]))"
    return Alert(
        name="SMSProviderThrottling",
        expr=f"{throttled} / {calls} > 0.1\nand on ({ACCOUNT})\n{calls} >= 100",
        for_seconds=15 * MINUTE,
        severity=TICKET,
        summary="A provider throttles an SMS account",
        description=(
            "{{ $value | humanizePercentage }} of the exporter's calls to "
            "{{ $labels.provider }} for account {{ $labels.account }} were answered 429 over "
            "the last 15 minutes: lower the account's rate_limit or ask the provider for more."
        ),
        dashboard=HEALTH,
    )


def stuck_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    window = settings.window(30 * MINUTE)
    tracked = f"sum by ({ACCOUNT}) (increase(sms_messages_tracked_total{{{job}}}[{window}]))"
    finished = f"sum by ({ACCOUNT}) (increase(sms_messages_final_total{{{job}}}[{window}]))"
    return Alert(
        name="SMSMessagesStuckInFlight",
        # Registered messages keep coming while (almost) none reaches a final status.
        # Stragglers that never get a report do not count: they are a few in many.
        expr=f"{finished} / {tracked} < 0.1\nand on ({ACCOUNT})\n{tracked} >= 20",
        for_seconds=15 * MINUTE,
        severity=PAGE,
        summary="SMS stay in flight: no final status is reported",
        description=(
            "Only {{ $value | humanizePercentage }} as many messages reached a final status as "
            "were registered for account {{ $labels.account }} ({{ $labels.provider }}) "
            "over the last 30 minutes, although the provider answers: "
            "messages wait in the provider's queue, or its delivery reports stopped."
        ),
        dashboard=OVERVIEW,
    )


def poll_lag_alert(settings: Settings) -> Alert:
    return Alert(
        name="SMSPollLagGrowing",
        expr=(
            f"max by ({ACCOUNT}) (sms_exporter_poll_lag_seconds{{{settings.job_selector}}})"
            f" > {settings.seconds(5 * MINUTE)}"
        ),
        # 15 minutes: an account whose every call is refused (429s, an outage) lags from
        # its first refusal; the blind page (15 + 2 minutes) must come first and hold
        # this ticket back, not follow it.
        for_seconds=15 * MINUTE,
        severity=TICKET,
        summary="Polling of an SMS account is falling behind",
        description=(
            "The most overdue poll of account {{ $labels.account }} ({{ $labels.provider }}) "
            "is {{ $value | humanizeDuration }} late: raise "
            "rate_limit or concurrency if the provider allows, or look for a pause."
        ),
        dashboard=HEALTH,
    )


def exporter_down_alert(settings: Settings) -> Alert:
    window = settings.window(3 * MINUTE)
    return Alert(
        name="SMSExporterDown",
        expr=f"max_over_time(up{{{settings.job_selector}}}[{window}]) == 0",
        for_seconds=2 * MINUTE,
        severity=PAGE,
        summary="An sms-delivery-exporter cannot be scraped",
        description=(
            "Prometheus has not scraped {{ $labels.instance }} (job {{ $labels.job }}) for "
            "5 minutes: the SMS delivery of its accounts is not being watched."
        ),
        dashboard=HEALTH,
        per_account=False,
    )


def exporter_absent_alert(settings: Settings) -> Alert:
    window = settings.window(5 * MINUTE)
    return Alert(
        name="SMSExporterAbsent",
        expr=f"absent_over_time(up{{{settings.job_selector}}}[{window}])",
        for_seconds=5 * MINUTE,
        severity=PAGE,
        summary="No sms-delivery-exporter is being scraped",
        description=(
            "Prometheus has had no target {{ with $labels.job }}of job {{ . }}{{ else }}"
            "matching {" + settings.job_selector.replace('"', "'") + "}{{ end }} for at least "
            "5 minutes: SMS delivery is not being watched."
        ),
        dashboard=HEALTH,
        per_account=False,
    )


def health_alerts(settings: Settings) -> list[Alert]:
    return [
        blind_alert(settings),
        api_down_alert(settings),
        blocked_alert(settings),
        stuck_alert(settings),
        throttling_alert(settings),
        poll_lag_alert(settings),
        exporter_down_alert(settings),
        exporter_absent_alert(settings),
    ]

"""Alerts about webhooks (push): an endpoint gone quiet, or calls it refuses.

Only accounts with push on have ``sms_exporter_push_requests_total`` (zero from
the start), so these alerts never concern a polled account. With push on,
polling is the safety net: it finds lost webhooks' final statuses late. A
webhook that stopped arriving therefore shows as finals found by polls while
none come by push, and a ticket is enough: nothing is lost, only later.
(sfmc_transactional's polls stop at "sent": its messages whose webhooks are lost
end by expiry at the end of the tracking window, so expiries count as the
safety net's finals too.)
Both add up the account's replicas: a load balancer spreads one provider's
webhooks over them, and one replica may by chance get none for a while.
"""

from __future__ import annotations

from monitoring.alert import HEALTH, TICKET, Alert
from monitoring.health_alerts import ACCOUNT
from monitoring.settings import MINUTE, Settings

REFUSED = 'result=~"bad_signature|bad_token|malformed|plugin_error"'


def push_quiet_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    window = settings.window(30 * MINUTE)

    def finals(source: str) -> str:
        return (
            f"sum by ({ACCOUNT}) (increase(sms_messages_final_by_source_total"
            f'{{{job}, source=~"{source}"}}[{window}]))'
        )

    pushing = f"group by ({ACCOUNT}) (sms_exporter_push_requests_total{{{job}}})"
    return Alert(
        name="SMSPushQuiet",
        expr=(
            f"{finals('poll|expiry')} > 0\n"
            f"and on ({ACCOUNT})\n{finals('push')} == 0\n"
            f"and on ({ACCOUNT})\n{pushing}"
        ),
        for_seconds=10 * MINUTE,
        severity=TICKET,
        summary="Webhooks of an SMS account stopped arriving",
        description=(
            "No final status of account {{ $labels.account }} ({{ $labels.provider }}) came by "
            "webhook to the exporter in the last 30 minutes, while its safety-net polls "
            "found {{ $value | humanize }}: the provider stopped posting, or its calls no longer "
            "reach the exporter or are refused. Statuses arrive only at the safety net's pace."
        ),
        dashboard=HEALTH,
    )


def push_refused_alert(settings: Settings) -> Alert:
    job = settings.job_selector
    window = settings.window(15 * MINUTE)
    calls = f"sum by ({ACCOUNT}) (increase(sms_exporter_push_requests_total{{{job}}}[{window}]))"
    refused = (
        f"sum by ({ACCOUNT}) "
        f"(increase(sms_exporter_push_requests_total{{{job}, {REFUSED}}}[{window}]))"
    )
    return Alert(
        name="SMSPushRefused",
        expr=f"{refused} / {calls} > 0.5\nand on ({ACCOUNT})\n{refused} >= 10",
        for_seconds=15 * MINUTE,
        severity=TICKET,
        summary="Most webhook calls of an SMS account are refused",
        description=(
            "{{ $value | humanizePercentage }} of the webhook calls for account "
            "{{ $labels.account }} ({{ $labels.provider }}) were refused over the last "
            "15 minutes: a wrong signature or token (rotated on one side only, or someone else "
            "calling), or bodies the plugin cannot read (the provider changed its format)."
        ),
        dashboard=HEALTH,
    )


def push_alerts(settings: Settings) -> list[Alert]:
    return [push_quiet_alert(settings), push_refused_alert(settings)]

"""The exporter health dashboard: provider APIs, throttling and pauses, errors, the process."""

from __future__ import annotations

from monitoring.canary_dashboard import CANARY_AND_DISCOVERY
from monitoring.grafana import (
    ACCOUNT_LEGEND,
    SCOPE_INSTANCE,
    SCOPE_NO_PROVIDER,
    UP_DOWN,
    Panel,
    Query,
    Row,
    rate,
    sel,
)

BY_ACCOUNT = "sum by (provider, account)"
BY_PUSH = 'source="push"'
UP_STEPS = ((None, "red"), (1, "green"))

PROVIDER_API = Row(
    "Provider API",
    (
        Panel(
            "Provider API up",
            "UP when the account's latest call reached the API and was answered deliberately "
            "(2xx, 404, 429, blocked); DOWN after refused credentials, 5xx, timeouts, connection "
            "errors or unreadable answers. No value before the account's first call.",
            "none",
            (
                Query(
                    f"min by (provider, account) ({sel('sms_exporter_provider_up')})",
                    ACCOUNT_LEGEND,
                    instant=True,
                ),
            ),
            kind="stat",
            width=8,
            decimals=0,
            thresholds=UP_STEPS,
            mappings=UP_DOWN,
        ),
        Panel(
            "Time since last usable answer",
            "Seconds since the provider API last answered usably. While messages are in flight, "
            "15 minutes of this pages (SMSDeliveryStatusBlind). No value before the first one.",
            "s",
            (
                Query(
                    "time() - max by (provider, account) "
                    f"({sel('sms_exporter_provider_last_success_timestamp_seconds')})",
                    ACCOUNT_LEGEND,
                ),
            ),
            width=16,
            thresholds=((None, "green"), (900, "red")),
            threshold_line=True,
        ),
        Panel(
            "Provider API calls by code",
            "Calls per second by HTTP status, or timeout and connection for calls that got no "
            "answer.",
            "reqps",
            (
                Query(
                    "sum by (provider, account, code) "
                    f"({rate('sms_exporter_provider_requests_total')})",
                    "{{provider}} / {{account}} {{code}}",
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
                    f"{{{{provider}}}} / {{{{account}}}} p{int(q * 100)}",
                )
                for q in (0.5, 0.95)
            ),
        ),
    ),
)

PAUSES = Row(
    "Throttling and pauses",
    (
        Panel(
            "Share of calls answered 429",
            "429 answers as a share of each account's calls. The line: 10%, where "
            "SMSProviderThrottling opens a ticket after 15 minutes.",
            "percentunit",
            (
                Query(
                    f"{BY_ACCOUNT} ({rate('sms_exporter_throttled_total')})"
                    f" / {BY_ACCOUNT} ({rate('sms_exporter_provider_requests_total')})",
                    ACCOUNT_LEGEND,
                ),
            ),
            width=8,
            thresholds=((None, "green"), (0.1, "red")),
            threshold_line=True,
        ),
        Panel(
            "Accounts paused, by reason",
            "When each account was paused: throttled (429), blocked (the provider blocked the "
            "account), auth (refused credentials), backoff (after consecutive 5xx, timeouts or "
            "connection errors).",
            "none",
            (
                Query(
                    f"max by (provider, account, reason) ({sel('sms_exporter_provider_paused')})",
                    "{{provider}} / {{account}} {{reason}}",
                ),
            ),
            kind="state-timeline",
            width=8,
            thresholds=((None, "green"), (1, "orange")),
            mappings={"0": ("polling", "green"), "1": ("paused", "orange")},
        ),
        Panel(
            "Poll lag",
            "How late the most overdue poll of each account is. Growing lag means the rate limit "
            "or concurrency cannot keep up with the traffic, or the account is paused.",
            "s",
            (
                Query(
                    f"max by (provider, account) ({sel('sms_exporter_poll_lag_seconds')})",
                    ACCOUNT_LEGEND,
                ),
            ),
            width=8,
            thresholds=((None, "green"), (300, "red")),
            threshold_line=True,
        ),
    ),
)

WEBHOOKS = Row(
    "Webhooks",
    (
        Panel(
            "Final statuses learned by push",
            "Share of each account's final statuses that came by webhook; the rest came by its "
            "safety-net polls (lost webhooks) or the tracking window. A fall to 0 while messages "
            "end by polls is a webhook that stopped arriving (SMSPushQuiet). Accounts with push "
            "on only.",
            "percentunit",
            (
                Query(
                    f"{BY_ACCOUNT} ({rate('sms_messages_final_by_source_total', BY_PUSH)})"
                    f" / {BY_ACCOUNT} ({rate('sms_messages_final_by_source_total')})",
                    ACCOUNT_LEGEND,
                ),
            ),
            width=8,
            max=1,
        ),
        Panel(
            "Time since the last webhook",
            "Seconds since the account's last webhook call with events was accepted. No value "
            "before the first one since the exporter started.",
            "s",
            (
                Query(
                    "time() - max by (provider, account) "
                    f"({sel('sms_exporter_push_last_received_timestamp_seconds')})",
                    ACCOUNT_LEGEND,
                ),
            ),
            width=8,
        ),
        Panel(
            "Webhook delay",
            "From the provider's time of an event to the counters' update, 99th percentile and "
            "median (events with a time of their own: SFMC ENS, Namirial).",
            "s",
            tuple(
                Query(
                    f"histogram_quantile({q}, sum by (provider, account, le) "
                    f"({rate('sms_exporter_push_delay_seconds_bucket')}))",
                    f"{{{{provider}}}} / {{{{account}}}} p{int(q * 100)}",
                )
                for q in (0.5, 0.99)
            ),
            width=8,
        ),
        Panel(
            "Webhook calls by result",
            "Calls per second: accepted, handshake, and the refused ones (bad_signature or "
            "bad_token: 401; malformed: 400; too_large: 413; timeout: 408; unavailable: 503; "
            "plugin_error). Refusals above half the calls open a ticket (SMSPushRefused).",
            "reqps",
            (
                Query(
                    "sum by (provider, account, result) "
                    f"({rate('sms_exporter_push_requests_total')})",
                    "{{provider}} / {{account}} {{result}}",
                ),
            ),
            stacked=True,
        ),
        Panel(
            "Webhook events by result",
            "Events per second by what became of them: applied, duplicate (a redelivery), "
            "tracked (a message nobody registered), unknown_message (dropped), finished (its "
            "ref was done with), sampled_out.",
            "cps",
            (
                Query(
                    "sum by (provider, account, result) "
                    f"({rate('sms_exporter_push_events_total')})",
                    "{{provider}} / {{account}} {{result}}",
                ),
            ),
            stacked=True,
        ),
    ),
)

ERRORS = Row(
    "Errors, refs and intake",
    (
        Panel(
            "Failed polls by kind",
            "Polls that failed (auth, throttled, blocked, timeout, connection, transient, "
            "payment_required, bad_response, plugin_error) and refs given up (not_found, "
            "invalid), per second.",
            "cps",
            (
                Query(
                    "sum by (provider, account, kind) "
                    f"({rate('sms_exporter_provider_errors_total')})",
                    "{{provider}} / {{account}} {{kind}}",
                ),
            ),
            width=8,
            stacked=True,
        ),
        Panel(
            "Dropped refs and contradictions",
            "Refs given up because the provider does not know them or calls them invalid, and "
            "answers that contradicted a final status already counted.",
            "cps",
            (
                Query(
                    "sum by (provider, account, reason) "
                    f"({rate('sms_exporter_refs_dropped_total')})",
                    "{{provider}} / {{account}} dropped {{reason}}",
                ),
                Query(
                    f"{BY_ACCOUNT} ({rate('sms_exporter_status_contradictions_total')})",
                    "{{provider}} / {{account}} contradictions",
                ),
            ),
            width=8,
        ),
        Panel(
            "Intake results",
            "Items posted to the intake API per second: accepted, duplicate, sampled_out or "
            "invalid.",
            "cps",
            (
                Query(
                    "sum by (account, result) "
                    f"({rate('sms_exporter_intake_total', scope=SCOPE_NO_PROVIDER)})",
                    "{{account}} {{result}}",
                ),
            ),
            width=8,
            stacked=True,
        ),
    ),
)

EXPORTER = Row(
    "Exporter",
    (
        Panel(
            "Exporter up",
            "Whether Prometheus scraped each exporter instance at its last attempt.",
            "none",
            (Query(f"up{{{SCOPE_INSTANCE}}}", "{{instance}}", instant=True),),
            kind="stat",
            width=6,
            decimals=0,
            thresholds=UP_STEPS,
            mappings=UP_DOWN,
        ),
        Panel(
            "Version",
            "Version, revision and Python version of each exporter instance.",
            "none",
            (
                Query(
                    "max by (instance, version, revision, python_version) "
                    f"(sms_exporter_build_info{{{SCOPE_INSTANCE}}})",
                    "{{instance}}: {{version}} ({{revision}}), Python {{python_version}}",
                    instant=True,
                ),
            ),
            kind="stat",
            width=12,
            thresholds=((None, "blue"),),
            options={"textMode": "name", "colorMode": "none"},
        ),
        Panel(
            "Uptime",
            "Time since each exporter process started.",
            "s",
            (
                Query(
                    f"time() - process_start_time_seconds{{{SCOPE_INSTANCE}}}",
                    "{{instance}}",
                    instant=True,
                ),
            ),
            kind="stat",
            width=6,
            thresholds=((None, "orange"), (600, "green")),
        ),
        Panel(
            "CPU",
            "CPU time the exporter process uses, in cores.",
            "percentunit",
            (
                Query(
                    f"rate(process_cpu_seconds_total{{{SCOPE_INSTANCE}}}[$__rate_interval])",
                    "{{instance}}",
                ),
            ),
            width=8,
        ),
        Panel(
            "Memory",
            "Resident memory of the exporter process.",
            "bytes",
            (Query(f"process_resident_memory_bytes{{{SCOPE_INSTANCE}}}", "{{instance}}"),),
            width=8,
        ),
        Panel(
            "Open file descriptors",
            "File descriptors the process holds (sockets to providers, the store), against its "
            "limit.",
            "short",
            (
                Query(f"process_open_fds{{{SCOPE_INSTANCE}}}", "{{instance}} open"),
                Query(f"process_max_fds{{{SCOPE_INSTANCE}}}", "{{instance}} limit"),
            ),
            width=8,
            decimals=0,
            dashed=".* limit",
        ),
        Panel(
            "Scrape duration",
            "Time the exporter took to render /metrics (its own measure, of the previous "
            "scrape), and the whole scrape as Prometheus saw it.",
            "s",
            (
                Query(
                    f"sms_exporter_scrape_duration_seconds{{{SCOPE_INSTANCE}}}",
                    "{{instance}} render",
                ),
                Query(f"scrape_duration_seconds{{{SCOPE_INSTANCE}}}", "{{instance}} scrape"),
            ),
        ),
        Panel(
            "Store size",
            "Size of the exporter's SQLite store on disk.",
            "bytes",
            (Query(f"sms_exporter_store_size_bytes{{{SCOPE_INSTANCE}}}", "{{instance}}"),),
        ),
    ),
)

ROWS = (PROVIDER_API, PAUSES, WEBHOOKS, ERRORS, CANARY_AND_DISCOVERY, EXPORTER)

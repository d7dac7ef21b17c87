"""Polling: each account's due refs through its provider, under its rate limit, until final.

Owns the schedule, the lifecycle rules (tracker), what failures mean for an
account (governor), and the batched commits of results (writer). Imports the
store, the outcome series, the metrics' health objects, the config and the API;
never the web layer or the intake.
"""

from __future__ import annotations

from sms_delivery_exporter.polling.accounts import account_rules, build_poller
from sms_delivery_exporter.polling.governor import AccountGovernor, Verdict
from sms_delivery_exporter.polling.poller import AccountPoller
from sms_delivery_exporter.polling.pruner import prune_forever
from sms_delivery_exporter.polling.ratelimit import RateLimiter
from sms_delivery_exporter.polling.reservations import Reservations
from sms_delivery_exporter.polling.tracker import AccountRules, PollResult, Tracker
from sms_delivery_exporter.polling.writer import Writer

__all__ = [
    "AccountGovernor",
    "AccountPoller",
    "AccountRules",
    "PollResult",
    "RateLimiter",
    "Reservations",
    "Tracker",
    "Verdict",
    "Writer",
    "account_rules",
    "build_poller",
    "prune_forever",
]

"""The accounts of the end-to-end alerting test: what each one's traffic is, what goes wrong
with it and when, and which pages and tickets that must bring.

Time runs 60 times faster than in production: the rules are the shipped ones rendered by
the builder at ``SCALE`` (windows, ``for`` and time thresholds), and so are the
simulators' timelines (latencies, queueing, Retry-After) and the polling schedule.
Counts are not scaled: a minimum of 10 failed messages in a 10-minute window becomes 10
in 10 seconds, so accounts that must meet a minimum send faster than real ones would.

Healthy traffic is the demo's (``sms-delivery-exporter demo``: each provider's
DEMO_SCENARIO and objective) on the ``control-*`` accounts, for the whole run, at
CONTROL_VOLUME times the demo's rate.
The ``near-*`` accounts stay below a threshold with its minimum volume met. Every
other account has a healthy lead-in, then its fault.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sms_delivery_exporter.cli.demo import OBJECTIVES, RATES
from sms_delivery_exporter.testing import DemoSimulator, Scenario
from sms_delivery_providers.d7.simulator import D7Simulator
from sms_delivery_providers.namirial.simulator import NamirialSimulator
from sms_delivery_providers.sfmc.simulator_auth import SfmcSimulatorBase

SCALE = 1 / 60
"""Test time per production time: 10 minutes become 10 seconds."""
TIME_FIELDS = ("queue_seconds", "latency_median", "latency_max", "read_delay", "retry_after")
"""The scenario fields that are durations of the simulated world, scaled with the rules."""

PAGE = "critical"
TICKET = "warning"
RECEIVERS = {PAGE: "pager", TICKET: "tickets"}
"""Which receiver of the shipped alertmanager.yml each severity reaches."""

SCHEDULE = {
    "first_poll": "200ms",
    "initial_interval": "200ms",
    "growth": 1.3,
    "max_interval": "5s",
    "read_receipt_window": "1m",
}
"""The default schedule scaled (max_interval 5m, an hour of read receipts), first polls
a little later than scaled so that one poll finds most messages final."""
ACCOUNT = {
    "rate_limit": 100,
    "concurrency": 8,
    # Not scaled (the default): the simulators share the test's process, which a loaded
    # machine may pause for seconds; a short limit would make that an outage of every
    # account, and of a quiet one (a probe every 3 s) for a whole 5-second window.
    "timeout": "10s",
    "probe_interval": "3s",
    "schedule": SCHEDULE,
}
"""Every account's options; a case overrides some."""


def compressed(scenario: Scenario, updates: Mapping[str, Any]) -> Scenario:
    """``scenario`` with ``updates`` (in production seconds), its durations scaled."""
    real = scenario.model_copy(update=dict(updates))
    return real.model_copy(update={name: getattr(real, name) * SCALE for name in TIME_FIELDS})


@dataclass(frozen=True)
class Expected:
    """A notification that must reach a receiver."""

    alertname: str
    severity: str
    labels: tuple[tuple[str, str], ...] = ()
    """Labels it must carry besides account and provider, e.g. the burn-rate windows."""
    instance: str | None = None
    """The exporter instance it is about ("a" or "b"), for alerts about one instance."""

    @property
    def receiver(self) -> str:
        return RECEIVERS[self.severity]

    def __str__(self) -> str:
        labels = ",".join(f"{k}={v}" for k, v in self.labels)
        where = f"@{self.instance}" if self.instance else ""
        return f"{self.alertname}{{{labels}}}{where} to {self.receiver}"


def page(alertname: str, *, instance: str | None = None, **labels: str) -> Expected:
    return Expected(alertname, PAGE, tuple(sorted(labels.items())), instance)


def ticket(alertname: str, *, instance: str | None = None, **labels: str) -> Expected:
    return Expected(alertname, TICKET, tuple(sorted(labels.items())), instance)


Act = Callable[[DemoSimulator], None]


@dataclass(frozen=True)
class Case:
    """One account: its traffic, its fault, and what the fault must bring."""

    account: str
    provider: str
    rate: float
    """Refs registered per second."""
    why: str
    """What the case shows, for the reader and for failure messages."""
    normal: Mapping[str, Any] = field(default_factory=dict)
    """Changes to the provider's demo scenario for the lead-in (production seconds)."""
    fault: Mapping[str, Any] | None = None
    """Changes to the normal scenario when the fault begins."""
    act: Act | None = None
    """Something else that happens to the simulated provider when the fault begins."""
    fault_rate: float | None = None
    """The sender's rate once the fault begins, when it changes."""
    config: Mapping[str, Any] = field(default_factory=dict)
    """Account options over ``ACCOUNT``."""
    expect: tuple[Expected, ...] = ()
    """Notifications that must arrive once the fault is real."""
    tolerate: tuple[Expected, ...] = ()
    """Notifications that may arrive as well (a consequence of the fault, see each case)."""
    instances: tuple[str, ...] = ("b",)
    early: bool = False
    """Its fault begins after a short lead-in, for alerts whose ``for`` is long."""
    push: bool = False
    """Its simulator posts webhooks to instance b (a few lost, a few twice, as the demo's),
    and polling is the safety net."""

    @property
    def faulty(self) -> bool:
        return self.fault is not None or self.act is not None or self.fault_rate is not None

    def scenario(self, demo: Scenario, *, faulty: bool) -> Scenario:
        updates = {**self.normal, **(self.fault or {})} if faulty else dict(self.normal)
        return compressed(demo, updates)

    def block(self) -> dict[str, Any]:
        return {**ACCOUNT, **self.config}


SAFETY_NET = {"first_poll": "1s", "initial_interval": "1s", "growth": 1.3, "max_interval": "5s"}
"""The safety net's schedule with push on, scaled (the demo's is 20s to 1m: real ones wait
longer still)."""
PUSH_FLAWS = {"push_loss_rate": 0.05, "push_duplicate_rate": 0.05}
"""The demo's webhooks: a few lost (posted again later, as a retrying provider does), a
few twice."""


def stops_posting(simulator: DemoSimulator) -> None:
    """The provider no longer posts webhooks (a subscription deleted, a callback paused)."""
    simulator.pusher.url = None  # type: ignore[attr-defined]


def token_rotated(simulator: DemoSimulator) -> None:
    """The webhook URL's token was changed at the provider and not in the exporter's config."""
    pusher = simulator.pusher  # type: ignore[attr-defined]
    pusher.url = pusher.url.replace("token=", "token=rotated-")


def out_of_credit(simulator: DemoSimulator) -> None:
    """D7 answers every status call 402 (its balance check would say 0: not asked here)."""
    assert isinstance(simulator, D7Simulator)
    simulator.out_of_credit = True


def balance_spent(simulator: DemoSimulator) -> None:
    """D7's balance reaches 0; status calls still answer."""
    assert isinstance(simulator, D7Simulator)
    simulator.balance = 0.0


def sends_refused(simulator: DemoSimulator) -> None:
    """Namirial's send API refuses every send from now on (anti-flooding, code 60)."""
    assert isinstance(simulator, NamirialSimulator)
    simulator.send_errors[:] = [60] * 100_000


def lists_broken(simulator: DemoSimulator) -> None:
    """Namirial's list endpoints answer a body without a messages list."""
    assert isinstance(simulator, NamirialSimulator)
    simulator.list_broken = True


def secret_rotated(simulator: DemoSimulator) -> None:
    """The client secret is rotated at SFMC: every token is revoked, the old secret refused."""
    assert isinstance(simulator, SfmcSimulatorBase)
    simulator.auth.client_secret = "rotated-" + simulator.auth.client_secret
    simulator.auth.expire_all()


FLAWLESS = {"delivered": 1.0, "undelivered": 0.0, "rejected": 0.0}
"""Nothing fails: the lead-in of accounts whose objective leaves almost no budget."""
BURN = "SMSDeliveryErrorBudgetBurn"

CONTROL_VOLUME = 3
"""The demo's rates, tripled for the controls: a scaled 10-minute window then holds about
a hundred deliveries (the demo's real one holds over a thousand). With fewer, the few
deliveries of the demo's long tail (0.3% of d7's take over 2 minutes, as handsets come
back into coverage) would make a p95 of their own: pending latency alerts that a real
window's volume never shows."""

CONTROLS = (
    *(
        Case(
            f"control-{provider}",
            provider,
            RATES[provider] * CONTROL_VOLUME,
            "the demo's traffic, whole run: nothing fires, nothing is pending",
            config={"delivery_objective": OBJECTIVES[provider]},
        )
        for provider in sorted(RATES)
    ),
    Case(
        "control-push",
        "namirial",
        RATES["namirial"] * CONTROL_VOLUME,
        "the demo's webhooks (5% late, 5% twice) and the safety net: nothing fires",
        normal=PUSH_FLAWS,
        config={"delivery_objective": OBJECTIVES["namirial"]},
        push=True,
    ),
)

NEAR_MISSES = (
    Case(
        "near-credit",
        "d7",
        8,
        "8% rejected for insufficient credit, 10 or more in each window: below the 20% "
        "share (its objective, 80%, is loose: only the credit rule may speak)",
        normal={
            "delivered": 0.892,
            "undelivered": 0.028,
            "rejected": 0.08,
            "rejected_reasons": {"insufficient_credit": 1},
        },
        config={"delivery_objective": 0.80},
    ),
    Case(
        "near-credit-few",
        "d7",
        0.3,
        "a quarter of a few messages rejected for insufficient credit: above the 20% share, "
        "under 10 in a window (the first report: a page on one such rejection)",
        normal={
            "delivered": 0.722,
            "undelivered": 0.028,
            "rejected": 0.25,
            "rejected_reasons": {"insufficient_credit": 1},
        },
        # Loose, so that only the credit rule may speak.
        config={"delivery_objective": 0.5},
    ),
    Case(
        "near-throttle",
        "namirial",
        8,
        "3% of over 100 calls answered 429: below the 10% share",
        normal={"throttle_rate": 0.03},
        config={"delivery_objective": 0.95},
    ),
)

EARLY = (
    Case(
        "chronic",
        "d7",
        8,
        "12% failing for good against a 95% objective: a ticket (3d/6h), not a page (spike)",
        fault={"delivered": 0.88, "undelivered": 0.09, "rejected": 0.03},
        config={"delivery_objective": 0.95},
        expect=(ticket(BURN, long="3d", short="6h"),),
        early=True,
    ),
    Case(
        "slow-burn",
        "d7",
        10,
        "4.5% failing against a 99% objective: tickets (1d/2h and 3d/6h), no page",
        normal=FLAWLESS,
        fault={"delivered": 0.955, "undelivered": 0.035, "rejected": 0.01},
        config={"delivery_objective": 0.99},
        expect=(ticket(BURN, long="1d", short="2h"),),
        tolerate=(ticket(BURN, long="3d", short="6h"),),
        early=True,
    ),
)

FAULTS = (
    Case(
        "spike",
        "namirial",
        4,
        "70% failing: the spike pages and holds back the burn-rate page of the account",
        fault={"delivered": 0.3, "undelivered": 0.6, "rejected": 0.1},
        config={"delivery_objective": 0.95},
        expect=(page("SMSUndeliveredSpike"),),
        # Once the spike is over (the test ends it), the 6h/30m window still burns: it
        # pages in the same group, as the README says; and the budget of the day and of
        # the three days is burnt (14 times the objective's pace: each ticket comes once
        # its `for` has passed, so a slow machine running the world longer sees both).
        tolerate=(
            page(BURN, long="6h", short="30m"),
            page(BURN, long="1h", short="5m"),
            ticket(BURN, long="1d", short="2h"),
            ticket(BURN, long="3d", short="6h"),
        ),
    ),
    Case(
        "burn-fast",
        "namirial",
        5,
        "10% failing against a 99.9% objective: the 1h/5m and 6h/30m windows page",
        normal=FLAWLESS,
        fault={"delivered": 0.9, "undelivered": 0.08, "rejected": 0.02},
        config={"delivery_objective": 0.999},
        expect=(page(BURN, long="1h", short="5m"), page(BURN, long="6h", short="30m")),
    ),
    Case(
        "credit-share",
        "d7",
        3,
        "half the messages rejected for insufficient credit: out of credit pages, the spike "
        "it causes does not",
        fault={
            "delivered": 0.45,
            "undelivered": 0.03,
            "rejected": 0.52,
            "rejected_reasons": {"insufficient_credit": 1},
        },
        config={"delivery_objective": 0.92},
        expect=(page("SMSAccountOutOfCredit"),),
    ),
    Case(
        "credit-402",
        "d7",
        3,
        "every status call answered 402: out of credit pages",
        act=out_of_credit,
        # The demo's rare 5xx stay on: among 402 answers they are never 3 in a row, so the
        # account never backs off (test_402_answers_keep_the_api_up).
        # The balance is read at start only: the 402 answers alone must page.
        config={"delivery_objective": 0.92, "probe_interval": "10m"},
        expect=(page("SMSAccountOutOfCredit"),),
    ),
    Case(
        "credit-balance",
        "d7",
        3,
        "the balance check reads 0 while the account sends: out of credit pages",
        act=balance_spent,
        config={"delivery_objective": 0.92, "probe_interval": "1s"},
        expect=(page("SMSAccountOutOfCredit"),),
    ),
    Case(
        "outage",
        "namirial",
        2,
        "the API answers 5xx to both exporter instances of the account: one API-down page "
        "for the account (alerts about an account aggregate over replicas), the blind and "
        "stuck pages it causes do not",
        fault={"error_rate": 1.0},
        config={"delivery_objective": 0.95},
        expect=(page("SMSProviderAPIDown"),),
        instances=("a", "b"),
    ),
    Case(
        "auth",
        "sfmc_transactional",
        2,
        "the client secret is rotated at SFMC: API down pages",
        act=secret_rotated,
        config={"delivery_objective": 0.95},
        expect=(page("SMSProviderAPIDown"),),
    ),
    Case(
        "blind",
        "namirial",
        2,
        "every call answered 429 (Retry-After 1 minute) while messages wait: blind pages",
        fault={"throttle_rate": 1.0, "retry_after": 60.0},
        config={"delivery_objective": 0.95},
        # Polls wait from the first 429: the lag passes 5 minutes after 5, but its ticket
        # waits 15 more, and the blind page (15 + 2) holds it back before then.
        expect=(page("SMSDeliveryStatusBlind"),),
    ),
    Case(
        "throttled",
        "namirial",
        8,
        "30% of over 100 calls answered 429: a throttling ticket",
        fault={"throttle_rate": 0.3},
        config={"delivery_objective": 0.95},
        expect=(ticket("SMSProviderThrottling"),),
    ),
    Case(
        "blocked",
        "sfmc_mobileconnect",
        6,
        "SFMC answers that the account is blocked: blocked pages",
        # A slow API, so that several calls are on the wire when the block begins: the
        # exporter then pauses 5 minutes (not scaled), and the rule wants 2 answers.
        normal={"answer_delay": 0.5},
        fault={"blocked_rate": 1.0},
        config={"delivery_objective": 0.90},
        expect=(page("SMSAccountBlocked"),),
        # Scaled, the blocked answers leave the 15-minute window long before the
        # exporter's 5-minute pause ends, so the alert resolves and the blind page (which
        # it held back) follows. In production the probe after each pause is blocked
        # again and the alert holds (prometheus/tests/health.test.yml).
        tolerate=(page("SMSDeliveryStatusBlind"), ticket("SMSPollLagGrowing")),
    ),
    Case(
        "latency",
        "namirial",
        3,
        "messages take 4 minutes to be delivered: a latency ticket",
        fault={"latency_median": 240.0, "latency_sigma": 0.3},
        # Polls spaced faster (growth 2) cost fewer calls; namirial's latency is its own clocks'.
        config={"delivery_objective": 0.95, "schedule": {**SCHEDULE, "growth": 2.0}},
        expect=(ticket("SMSDeliveryLatencyHigh"),),
    ),
    Case(
        "stuck",
        "namirial",
        1,
        "97% of the messages never reach a final status while the API answers: stuck pages",
        fault={"delivered": 0.03, "undelivered": 0.0, "rejected": 0.0, "stuck": 0.97},
        # Stuck refs are polled until they expire; a longer cap keeps that cheap.
        config={"delivery_objective": 0.95, "schedule": {**SCHEDULE, "max_interval": "20s"}},
        expect=(page("SMSMessagesStuckInFlight"),),
    ),
    Case(
        "lag",
        "namirial",
        1,
        "the application sends 8 messages a second to an account allowed 3 calls: lag ticket",
        fault_rate=8,
        config={"delivery_objective": 0.95, "rate_limit": 3},
        expect=(ticket("SMSPollLagGrowing"),),
    ),
)

PUSH_FAULTS = (
    Case(
        "push-quiet",
        "namirial",
        4,
        "the provider stops posting webhooks; the safety net's polls find every final: "
        "a ticket (nothing is lost, statuses come later)",
        normal=PUSH_FLAWS,
        act=stops_posting,
        config={"delivery_objective": 0.95},
        expect=(ticket("SMSPushQuiet"),),
        push=True,
    ),
    Case(
        "push-refused",
        "namirial",
        4,
        "the webhook URL's token is rotated at the provider only: every call refused, a ticket",
        normal=PUSH_FLAWS,
        act=token_rotated,
        config={"delivery_objective": 0.95},
        expect=(ticket("SMSPushRefused"),),
        # Refused calls apply nothing: no final comes by push any more either.
        tolerate=(ticket("SMSPushQuiet"),),
        push=True,
    ),
)


CANARY = {
    "enabled": True,
    "to": "+393331234567",
    "username": "canary",
    "password": "canary-password",
    # Scaled: every 5 minutes, a 2-minute deadline.
    "interval": "5s",
    "allow_fast": True,
    "deadline": "2s",
}
"""A canary block; the world points ``send_url`` at the account's simulator."""
DISCOVERY = {"references": ["app-orders"], "interval": "1s"}
"""A discovery block; the world has the account's demo messages carry this reference."""

PROBES = (
    Case(
        "canary",
        "namirial",
        1,
        "the send API refuses every canary (anti-flooding) while the account's traffic is "
        "healthy: the canary pages; before, delivered canaries and discovery stay quiet",
        act=sends_refused,
        config={"delivery_objective": 0.95, "canary": CANARY, "discovery": DISCOVERY},
        expect=(page("SMSCanaryFailing"),),
    ),
    Case(
        "discovery",
        "namirial",
        1,
        "the list endpoint's answers become unreadable: discovery goes stale, a ticket",
        act=lists_broken,
        config={"delivery_objective": 0.95, "discovery": DISCOVERY},
        expect=(ticket("SMSDiscoveryStale", feed="reference"),),
    ),
)

CASES = (*CONTROLS, *NEAR_MISSES, *EARLY, *FAULTS, *PUSH_FAULTS, *PROBES)
BY_ACCOUNT = {case.account: case for case in CASES}
EXPORTER_ALERTS = (page("SMSExporterDown", instance="a"), page("SMSExporterAbsent"))
"""Alerts about exporters rather than accounts: instance a is stopped, then no target is left."""

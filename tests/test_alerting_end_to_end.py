"""The shipped alerts, end to end: silent on healthy traffic, loud when their condition is real.

One world for the module (tests/alerting_world.py): every provider's simulator, one per
account; two exporter processes; Prometheus scraping them every second with the shipped
rules rendered at a 60th of their windows; Alertmanager with the shipped config (its
timers scaled alike) posting to a pager and a ticket webhook. The accounts and what
happens to each are in tests/alerting_cases.py: the demo's healthy traffic, near misses,
and one fault per alert. The tests run in order on the same timeline: faults begin once
the lead-in is over, and each test waits for what its faults must bring.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from monitoring.settings import Settings
from sms_delivery_exporter.testing import Scenario, demo_simulators
from sms_delivery_providers.d7.simulator import D7Simulator
from tests.alerting_cases import (
    ACCOUNT,
    BURN,
    BY_ACCOUNT,
    CASES,
    CONTROLS,
    EXPORTER_ALERTS,
    NEAR_MISSES,
    SCALE,
    Expected,
)
from tests.alerting_world import Notification, World
from tests.dashboard_lint import as_promql, targets
from tests.helpers import make_config, wait_for
from tests.stack import JOB, alertmanager_binary, start_prometheus

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("prometheus") is None or alertmanager_binary() is None,
        reason="needs Debian's prometheus and prometheus-alertmanager (make test installs them)",
    ),
]

FAST = 75
"""Seconds from a fault's beginning to its page or ticket, for alerts whose scaled window
and `for` add up to under a minute (the stuck alert: 30 + 15 seconds)."""
SLOW = 240
"""The same for the slow burn-rate tickets: `for: 3h` is 3 minutes here."""


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    world = World(tmp_path_factory.mktemp("alerting"))
    try:
        world.start()
        world.run(world.lead_in_and_faults, timeout=150)
        yield world
    except BaseException:
        print(world.logs())
        raise
    finally:
        world.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def labels_of(world: World, account: str, expected: Expected) -> dict[str, str]:
    """The labels that identify ``expected``'s alert about ``account``."""
    labels = {"alertname": expected.alertname, **dict(expected.labels)}
    if account:
        labels |= {"account": account, "provider": BY_ACCOUNT[account].provider}
    if expected.instance:
        labels["instance"] = world.instance(expected.instance)
    return labels


async def arrives(
    world: World,
    session: aiohttp.ClientSession,
    account: str,
    expected: Expected,
    within: float = FAST,
) -> Notification:
    """Wait until ``expected`` reaches its receiver, ``within`` seconds of the fault."""
    labels = labels_of(world, account, expected)
    began = world.faults_began.get(account, time.time())
    remaining = max(1.0, began + within - time.time())
    try:
        found = await wait_for(
            lambda: world.webhooks.find(**labels),
            timeout=remaining,
            interval=0.5,
            what=f"{expected} about {account or 'the exporters'}",
        )
    except AssertionError:
        selector = ",".join(f'{k}="{v}"' for k, v in labels.items() if k != "alertname")
        alerts = await world.prometheus.query(session, f"ALERTS{{{selector}}}")
        raise AssertionError(
            f"{expected} did not arrive for {account}; Prometheus has "
            f"{[a['metric'] for a in alerts]}; notified: "
            f"{[n.labels for n in world.webhooks.received if n.labels.get('account') == account]}"
        ) from None
    notification: Notification = found[0]
    # Pages reach the pager and tickets the ticket system, by the shipped routes.
    assert notification.receiver == expected.receiver == notification.path
    assert notification.labels["severity"] == expected.severity
    assert notification.annotations["summary"] and notification.annotations["runbook_url"]
    return notification


async def alertmanager_states(
    world: World, session: aiohttp.ClientSession, **labels: str
) -> dict[str, list[str]]:
    """Alertmanager's alerts matching ``labels``: alertname -> their states."""
    async with session.get(f"{world.alertmanager.url}/api/v2/alerts") as response:
        alerts = await response.json()
    states: dict[str, list[str]] = {}
    for alert in alerts:
        if all(alert["labels"].get(k) == v for k, v in labels.items()):
            states.setdefault(alert["labels"]["alertname"], []).append(alert["status"]["state"])
    return states


async def held_back(
    world: World,
    session: aiohttp.ClientSession,
    alertname: str,
    within: float = FAST,
    **labels: str,
) -> None:
    """Wait until Alertmanager holds ``alertname`` (firing in Prometheus) back by inhibition:
    ``within`` seconds of the account's fault, and at least :data:`FAST` from now."""

    async def suppressed() -> bool:
        got = (await alertmanager_states(world, session, **labels)).get(alertname, [])
        return bool(got) and set(got) == {"suppressed"}

    began = world.faults_began.get(labels["account"], time.time())
    remaining = max(FAST, began + within - time.time())
    await wait_for(
        suppressed, timeout=remaining, interval=0.5, what=f"{alertname} {labels} held back"
    )
    assert not world.webhooks.find(alertname, **labels)


async def test_402_answers_keep_the_api_up(
    tmp_path: Path, serve: Callable[..., Any], start_exporter: Callable[..., Any]
) -> None:
    """An account out of credit, whose API answers 402 and now and then a 5xx, is not down:
    the 402s prove the API reachable, so no 5xx is ever 3 in a row and it never backs off."""
    simulator = demo_simulators()["d7"]()
    assert isinstance(simulator, D7Simulator)
    simulator.factory.scenario = Scenario(delivered=1.0, latency_median=0.05, error_rate=0.05)
    url = await serve(simulator.app())
    block = {"provider": "d7", **simulator.account_options(url), **ACCOUNT, "rate_limit": 200}
    config, _ = make_config(tmp_path, {"broke": block})
    exporter, client = await start_exporter(config)
    simulator.out_of_credit = True
    items = [{"account": "broke", **simulator.demo_send()} for _ in range(40)]
    assert (await client.post("/api/v1/messages", json=items)).status == 202
    labels = {"provider": "d7", "account": "broke"}
    backoff: list[float | None] = []

    def errors(kind: str) -> float:
        return exporter.sample("sms_exporter_provider_errors_total", {**labels, "kind": kind}) or 0

    def some_5xx_among_402s_or_backed_off() -> bool:
        backoff.append(
            exporter.sample("sms_exporter_provider_paused", {**labels, "reason": "backoff"})
        )
        return bool(backoff[-1]) or (errors("transient") >= 3 and errors("payment_required") >= 20)

    # Three 5xx among 402s: were they counted as if in a row, the account would back off
    # now. (Three in a row for real, before any other 5xx, is a 1-in-500 chance.)
    await wait_for(
        some_5xx_among_402s_or_backed_off, timeout=120, interval=0.02, what="three 5xx, 20 402s"
    )
    backoff.append(exporter.sample("sms_exporter_provider_paused", {**labels, "reason": "backoff"}))
    assert max(value or 0 for value in backoff) == 0, "backed off while the API answered 402"


def test_every_alert_is_made_real_by_a_case() -> None:
    """Every alert of the rules file, every burn-rate window, reaches a receiver in a case."""
    rules = yaml.safe_load((ROOT / "prometheus/rules/sms-delivery.rules.yml").read_text())
    alerts = [rule for group in rules["groups"] for rule in group["rules"] if "alert" in rule]
    shown = {
        (e.alertname, e.severity, dict(e.labels).get("long"))
        for e in [*(e for case in CASES for e in case.expect), *EXPORTER_ALERTS]
    }
    wanted = {(a["alert"], a["labels"]["severity"], a["labels"].get("long")) for a in alerts}
    assert sorted(wanted - shown, key=str) == []
    # Every alert has an account on which it must stay silent all along.
    assert CONTROLS and NEAR_MISSES


def test_healthy_lead_in_is_silent(world: World) -> None:
    """The demo's traffic on every account (and none failing for the flawless ones) while
    the rules' windows fill: no alert fired, none was even pending, nothing was notified."""
    assert world.lead_in_alerts == {"short": [], "long": []}
    first_fault = min(world.faults_began.values())
    assert [n.labels for n in world.webhooks.received if n.at < first_fault] == []


async def test_failure_spike_pages_holds_back_the_burn_rate_and_resolves(
    world: World, session: aiohttp.ClientSession
) -> None:
    page = await arrives(world, session, "spike", BY_ACCOUNT["spike"].expect[0])
    assert "% of the final messages of account spike" in page.annotations["description"]
    # The 6h/30m window burns too (30% of the budget's pace): one page per incident.
    await held_back(world, session, BURN, account="spike", long="6h")
    world.end_fault(BY_ACCOUNT["spike"])
    await wait_for(
        lambda: world.webhooks.find("SMSUndeliveredSpike", "resolved", account="spike"),
        timeout=FAST,
        interval=0.5,
        what="the spike resolved at the pager",
    )


async def test_fast_burn_pages_both_windows(world: World, session: aiohttp.ClientSession) -> None:
    """10% failing against 99.9%: the 1h/5m and 6h/30m windows page; the spike (20%)
    does not; the tickets of the slower windows wait behind the page."""
    for expected in BY_ACCOUNT["burn-fast"].expect:
        await arrives(world, session, "burn-fast", expected)
    # 20 failures in the day's window (half a failure a second: 40 s), then `for: 1h` (60 s).
    await held_back(world, session, BURN, SLOW, account="burn-fast", long="1d")


async def test_out_of_credit_pages_for_each_cause(
    world: World, session: aiohttp.ClientSession
) -> None:
    for account in ("credit-share", "credit-402", "credit-balance"):
        await arrives(world, session, account, BY_ACCOUNT[account].expect[0])
    # Half the messages failing is a spike too: the cause pages, not the symptom.
    await held_back(world, session, "SMSUndeliveredSpike", account="credit-share")


async def test_api_down_pages_for_5xx_and_for_refused_credentials(
    world: World, session: aiohttp.ClientSession
) -> None:
    for account in ("outage", "auth"):
        for expected in BY_ACCOUNT[account].expect:
            page = await arrives(world, session, account, expected)
            assert "failed" in page.annotations["description"]
    # Nothing is polled: the account is blind and its messages stuck, but the page
    # names the cause.
    await held_back(world, session, "SMSDeliveryStatusBlind", account="outage")
    paused = await world.prometheus.query(
        session, 'sms_exporter_provider_paused{account="auth", reason="auth"} == 1'
    )
    assert paused, "refused credentials pause the account"


async def test_blind_pages_when_every_call_is_throttled(
    world: World, session: aiohttp.ClientSession
) -> None:
    page = await arrives(world, session, "blind", BY_ACCOUNT["blind"].expect[0])
    assert "had a usable answer" in page.annotations["description"]
    up = await world.prometheus.query(session, 'sms_exporter_provider_up{account="blind"}')
    assert [sample["value"][1] for sample in up] == ["1"], "429s are answers: the API is up"


async def test_throttling_beyond_the_share_opens_a_ticket(
    world: World, session: aiohttp.ClientSession
) -> None:
    await arrives(world, session, "throttled", BY_ACCOUNT["throttled"].expect[0])


async def test_blocked_account_pages(world: World, session: aiohttp.ClientSession) -> None:
    await arrives(world, session, "blocked", BY_ACCOUNT["blocked"].expect[0])


async def test_high_latency_opens_a_ticket(world: World, session: aiohttp.ClientSession) -> None:
    await arrives(world, session, "latency", BY_ACCOUNT["latency"].expect[0])


async def test_stuck_messages_page(world: World, session: aiohttp.ClientSession) -> None:
    await arrives(world, session, "stuck", BY_ACCOUNT["stuck"].expect[0])


async def test_poll_lag_opens_a_ticket(world: World, session: aiohttp.ClientSession) -> None:
    await arrives(world, session, "lag", BY_ACCOUNT["lag"].expect[0])


async def test_webhooks_gone_quiet_open_a_ticket(
    world: World, session: aiohttp.ClientSession
) -> None:
    await arrives(world, session, "push-quiet", BY_ACCOUNT["push-quiet"].expect[0])
    # Nothing was lost: the safety net's polls found the finals the webhooks no longer told.
    polled = await world.prometheus.query(
        session,
        'increase(sms_messages_final_by_source_total{account="push-quiet", source="poll"}[20s])'
        " > 10",
    )
    assert polled


async def test_refused_webhooks_open_a_ticket(world: World, session: aiohttp.ClientSession) -> None:
    await arrives(world, session, "push-refused", BY_ACCOUNT["push-refused"].expect[0])
    refused = await world.prometheus.query(
        session,
        'sms_exporter_push_requests_total{account="push-refused", result="bad_token"} > 10',
    )
    assert refused


async def test_refused_canaries_page(world: World, session: aiohttp.ClientSession) -> None:
    page = await arrives(world, session, "canary", BY_ACCOUNT["canary"].expect[0])
    assert "none was delivered" in page.annotations["description"]


async def test_stale_discovery_opens_a_ticket(world: World, session: aiohttp.ClientSession) -> None:
    await arrives(world, session, "discovery", BY_ACCOUNT["discovery"].expect[0])


async def test_one_instance_down_pages_and_leaves_the_other_loud(
    world: World, session: aiohttp.ClientSession
) -> None:
    """Instance a stops: its own page comes, and the API-down page about the account both
    instances track (b still sees the outage) stays active: the page about a stopped
    instance holds back only alerts about that instance, never those of an account."""
    a, b = world.instance("a"), world.instance("b")
    for expected in BY_ACCOUNT["outage"].expect:
        await arrives(world, session, "outage", expected)
    world.exporters["a"].stop()
    stopped = time.time()
    down = await arrives(world, session, "", EXPORTER_ALERTS[0], within=FAST)
    assert down.labels["instance"] == a and "provider" not in down.labels

    async def exporter_down_active() -> bool:
        states = await alertmanager_states(world, session, alertname="SMSExporterDown")
        return states.get("SMSExporterDown") == ["active"]

    await wait_for(exporter_down_active, timeout=30, interval=0.5, what="SMSExporterDown active")
    states = await alertmanager_states(world, session, account="outage")
    assert states["SMSProviderAPIDown"] == ["active"]
    firing = await world.prometheus.query(
        session, 'ALERTS{alertname="SMSProviderAPIDown", account="outage", alertstate="firing"}'
    )
    assert firing
    assert not world.webhooks.find("SMSProviderAPIDown", "resolved", account="outage")
    assert not world.webhooks.find("SMSExporterDown", instance=b)
    assert [n for n in world.webhooks.find("SMSExporterDown") if n.at < stopped] == []


async def test_no_target_left_pages_exporter_absent(
    world: World, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """A Prometheus whose service discovery loses the exporter: silent while it scrapes
    one, the absent page once none is left (its rules: the absent alert alone)."""
    groups = yaml.safe_load(World.rules())["groups"]
    rule = [r for g in groups for r in g["rules"] if r.get("alert") == "SMSExporterAbsent"]
    # A recording rule beside it, to count its evaluations.
    absent = [{"name": "absent", "rules": [*rule, {"record": "evaluated", "expr": "vector(1)"}]}]
    b = [world.instance("b")]
    prometheus = start_prometheus(
        tmp_path,
        targets=b,
        alertmanager=f"127.0.0.1:{world.alertmanager.port}",
        rules=yaml.safe_dump({"groups": absent}),
        name="prometheus-absent",
        evaluate=False,
    )

    async def lasted(series: str, seconds: int) -> bool:
        query = f"count_over_time({series}[{seconds + 1}s]) >= {seconds}"
        try:
            return bool(await prometheus.query(session, query))
        except aiohttp.ClientError:
            return False

    try:
        # It evaluates from its first scrape on (a started Prometheus's first targets
        # come after about 5 seconds, the alert's scaled `for`), then for its window
        # and `for`: 10 seconds.
        up = f'up{{job="{JOB}"}}'
        await wait_for(lambda: lasted(up, 1), timeout=60, interval=0.5, what="a first scrape")
        prometheus.reload(b)
        await wait_for(
            lambda: lasted("evaluated", 11), timeout=60, interval=0.5, what="11s of evaluations"
        )
        assert await prometheus.query(session, "count_over_time(ALERTS[12s])") == []
        lost = time.time()
        prometheus.reload(targets=[])
        page = await arrives(world, session, "", EXPORTER_ALERTS[1], within=60)
        assert page.at > lost and page.labels["job"] == JOB
    finally:
        prometheus.stop()


async def test_every_dashboard_query_returns_data(
    world: World, session: aiohttp.ClientSession
) -> None:
    empty = []
    for path in sorted((ROOT / "grafana/dashboards").glob("*.json")):
        for panel, target in targets(json.loads(path.read_text())):
            expr = as_promql(target["expr"], rate_interval="10s", range_="2m")
            if not await world.prometheus.query(session, expr):
                empty.append(f"{path.name}: {panel['title']} {target['refId']}")
    assert empty == []


async def test_slow_burn_rates_open_tickets(world: World, session: aiohttp.ClientSession) -> None:
    """The ticket windows, whose `for` (1 and 3 hours) is 1 and 3 minutes here."""
    for account in ("slow-burn", "chronic"):
        for expected in BY_ACCOUNT[account].expect:
            await arrives(world, session, account, expected, within=SLOW)


async def test_near_misses_were_near(world: World, session: aiohttp.ClientSession) -> None:
    """The near misses' silence means something: each met the minimum volume its rule asks
    and stayed under the share, or passed the share under the minimum volume."""
    settings = Settings(scale=SCALE)
    credit, calls = settings.window(10 * 60), settings.window(15 * 60)
    span = f"[{int(time.time() - world.evaluated_since)}s:1s]"

    async def most(expr: str, account: str) -> float:
        expr = expr.replace("ACCOUNT", f'account="{account}"')
        result = await world.prometheus.query(session, f"max_over_time(({expr}){span})")
        return float(result[0]["value"][1]) if result else 0.0

    def increase(metric: str, window: str, matchers: str = "") -> str:
        return f"sum(increase({metric}{{ACCOUNT{matchers}}}[{window}]))"

    rejected = increase("sms_message_failures_total", credit, ', reason="insufficient_credit"')
    finals = increase("sms_messages_final_total", credit)
    throttled = increase("sms_exporter_throttled_total", calls)
    requests = increase("sms_exporter_provider_requests_total", calls)
    failed = increase("sms_messages_final_total", credit, ', status=~"undelivered|rejected"')
    assert await most(rejected, "near-credit") >= 10
    assert 0.05 < await most(f"{rejected} / {finals}", "near-credit") < 0.2
    assert await most(rejected, "near-credit-few") < 10
    assert await most(f"{rejected} / {finals}", "near-credit-few") > 0.2
    assert await most(requests, "near-throttle") >= 100
    assert 0.01 < await most(f"{throttled} / {requests}", "near-throttle") < 0.1
    # The lasting 12% failure share of `chronic`, no spike, met the spike's 10 failures.
    assert await most(failed, "chronic") >= 10


async def test_nothing_else_fired(world: World, session: aiohttp.ClientSession) -> None:
    """All along: the demo's traffic and the near misses never had an alert pending or
    firing, no exporter was absent for the main Prometheus, and no account was notified of
    anything but what its fault must bring."""
    window = int(time.time() - world.evaluated_since) + 1
    quiet = "|".join(case.account for case in (*CONTROLS, *NEAR_MISSES))
    alerts = await world.prometheus.query(
        session,
        f'count_over_time(ALERTS{{account=~"{quiet}"}}[{window}s])'
        f' or count_over_time(ALERTS{{alertname="SMSExporterAbsent"}}[{window}s])',
    )
    unexpected = [note.labels for note in world.webhooks.received if not expected(world, note)]
    for note in world.webhooks.received:  # shown with -s, or when the test fails
        labels = ",".join(f"{k}={note.labels[k]}" for k in ("long", "instance") if k in note.labels)
        print(
            note.receiver, note.status, note.labels.get("account"), note.labels["alertname"], labels
        )
    assert {"pending or firing": [a["metric"] for a in alerts], "notified": unexpected} == {
        "pending or firing": [],
        "notified": [],
    }


def expected(world: World, note: Notification) -> bool:
    """Whether a notification is one its account's fault must or may bring."""
    account = note.labels.get("account")
    if account is None:
        exporters = [labels_of(world, "", e) for e in EXPORTER_ALERTS]
        return any(labels.items() <= note.labels.items() for labels in exporters)
    case = BY_ACCOUNT[account]
    allowed = [(labels_of(world, account, e), e.receiver) for e in (*case.expect, *case.tolerate)]
    return any(
        labels.items() <= note.labels.items() and receiver == note.receiver
        for labels, receiver in allowed
    )

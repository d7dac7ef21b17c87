"""The exporter process through its CLI, against the simulator: /metrics equals the truth."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sms_delivery_exporter.testing import Scenario, demo_simulators, truth
from tests.conftest import API_KEY
from tests.helpers import (
    Samples,
    by_label,
    make_config,
    namirial_account,
    providers,
    total,
    wait_for,
)
from tests.processes import ExporterProcess
from tests.push_helpers import status_update

pytestmark = pytest.mark.slow
Start = Callable[..., Any]
FAST = {"first_poll": "200ms", "initial_interval": "200ms", "max_interval": "1s"}
PUSH_ALONE = {"first_poll": "1h", "initial_interval": "1h", "max_interval": "2h"}
"""A safety net beyond the test: every final status comes by webhook."""
QUICK_NET = {"first_poll": "1s", "initial_interval": "1s", "growth": 1.0, "max_interval": "1s"}
FINAL = "sms_messages_final_total"


# `session` and `processes` (exporters stopped at the end) come from conftest.py.


def final_by_status(samples: Samples) -> dict[str, float]:
    return by_label(samples, FINAL, "status")


def modes() -> list[Any]:
    """Every provider polled; those whose simulator posts webhooks also by push alone (the
    safety net an hour away) and by both (webhooks lost, redelivered, reordered; a quick net)."""
    cases = []
    for name in sorted(providers()):
        factory = demo_simulators().get(name)
        cases.append(pytest.param(name, "poll", id=f"{name}-poll"))
        if factory is not None and factory().push_options() is not None:
            cases.append(pytest.param(name, "push", id=f"{name}-push"))
            cases.append(pytest.param(name, "both", id=f"{name}-both"))
    return cases


@pytest.mark.parametrize(("provider_name", "mode"), modes())
async def test_metrics_equal_ground_truth(
    tmp_path: Path,
    serve: Callable[..., Any],
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
    provider_name: str,
    mode: str,
) -> None:
    """Counts by status and reason, segments, cost and latency observations match the simulator,
    whether statuses come by polls, by webhooks, or by both."""
    factory = demo_simulators().get(provider_name)
    assert factory is not None, f"{provider_name} ships no simulator"
    simulator = factory()
    simulator.factory.scenario = simulator.factory.scenario.model_copy(
        update={
            "delivered": 0.7,
            "undelivered": 0.15,
            "rejected": 0.15,
            "latency_median": 0.8,
            "latency_sigma": 0.5,
            "error_rate": 0.05,
            "throttle_rate": 0.02,
            "retry_after": 0.2,
            "malformed_rate": 0.02,
            # Where the API can say them (d7): impossible numbers, and no country at all.
            "absurd_rate": 0.03,
            "no_country_share": 0.1,
            # A read receipt seen before delivery hides the latency (tested in test_tracking);
            # without reads every delivery is one latency observation.
            "read_share": 0.0,
            # Webhooks come late, out of order, twice; and with polls as well, some never.
            "push_jitter": 0.5,
            "push_duplicate_rate": 0.2,
            "push_loss_rate": 0.3 if mode == "both" else 0.0,
        }
    )
    url = await serve(simulator.app())
    block = {"provider": provider_name, **simulator.account_options(url), "schedule": FAST}
    if mode != "poll":
        net = PUSH_ALONE if mode == "push" else QUICK_NET
        block["push"] = {**(simulator.push_options() or {}), "safety_net": net}
        block["push"]["confirm_after"] = "1s"
    _, text = make_config(tmp_path, {"acct": block})
    exporter = ExporterProcess(text, tmp_path)
    processes.append(exporter)
    if mode != "poll":
        simulator.push_to(f"{exporter.url}/api/v1/push/acct")
    exporter.start()
    await exporter.ready(session)
    items = [{"account": "acct", **simulator.demo_send()} for _ in range(150)]
    for start in range(0, len(items), 50):
        await exporter.post(session, items[start : start + 50])
    messages = simulator.truth()["messages"]

    async def all_final() -> Samples | None:
        # Final, and (D7 by push) billed by the confirming poll: nothing left to count.
        # Every webhook call answered first (a duplicate or a redelivery may come after
        # its message's final), so that the scrape counts each call the simulator made.
        if mode != "poll" and not simulator.pusher.idle:  # type: ignore[attr-defined]
            return None
        samples = await exporter.scrape(session)
        expected = simulator.truth()
        done = total(samples, FINAL) == messages and (
            total(samples, "sms_message_segments_total") == expected["segments"]
        )
        return samples if done else None

    samples = await wait_for(all_final, timeout=90, interval=0.2, what=f"{messages} final messages")
    expected = simulator.truth()
    assert final_by_status(samples) == expected["final"]
    failures: dict[str, float] = {}
    for (name, labels), value in samples.items():
        if name == "sms_message_failures_total" and value:
            key = f"{dict(labels)['status']}/{dict(labels)['reason']}"
            failures[key] = failures.get(key, 0.0) + value
    assert failures == expected["reasons"]
    assert total(samples, "sms_message_segments_total") == expected["segments"]
    assert total(samples, "sms_message_cost_total") == pytest.approx(expected["cost"])
    # Every delivery is a latency observation, or counted as too uncertain to be one
    # (here polls run late behind faults, pauses and the rate limit).
    observed = total(samples, "sms_delivery_latency_seconds_count")
    uncertain = total(samples, "sms_delivery_latency_uncertain_total")
    assert observed + uncertain == len(expected["delivered_latencies"])
    if expected["delivered_latencies"]:
        assert observed > 0
    assert total(samples, "sms_messages_tracked_total") == 150
    assert total(samples, "sms_messages_in_flight") == 0
    if simulator.account_options(url).get("country_label"):
        assert total(samples, "sms_messages_final_by_country_total") == messages
        # Messages the API names no country for are counted as "other", not left out.
        by_country = by_label(samples, "sms_messages_final_by_country_total", "country")
        assert by_country.get("other", 0) > 0
    sources = by_label(samples, "sms_messages_final_by_source_total", "source")
    assert sum(sources.values()) == messages
    if mode == "poll":
        assert set(sources) <= {"poll"}
    else:
        assert sources.get("push", 0) > 0
        if mode == "push" and provider_name != "d7":  # D7's confirming polls may see finals
            assert set(sources) == {"push"}
        assert by_label(samples, "sms_exporter_push_requests_total", "result") == {
            "accepted": simulator.pusher.stats["calls"]  # type: ignore[attr-defined]
        }
    # Every fault the simulator served was seen and counted as what it was.
    served = simulator.faults.served
    if mode != "push":
        assert served["malformed"] + served["error"] + served["throttle"] > 0
    errors = by_label(samples, "sms_exporter_provider_errors_total", "kind")
    # Impossible numbers (2^70 parts) are bad answers too, and never added to a counter.
    assert errors.get("bad_response", 0) == served["malformed"] + served["absurd"]
    assert errors.get("transient", 0) == served["error"]
    assert total(samples, "sms_exporter_throttled_total") == served["throttle"]
    assert exporter.stop() == 0


async def test_sigkill_loses_no_ref_and_counts_nothing_twice(
    tmp_path: Path,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """Killed with SIGKILL under load and restarted on its store, the exporter ends at the truth."""
    scenario = Scenario(latency_median=1.0, latency_sigma=0.5, undelivered=0.1, rejected=0.1)
    simulator, url = await start_namirial(scenario)
    _, text = make_config(
        tmp_path, {"eu": namirial_account(url, API_KEY, schedule=FAST, concurrency=16)}
    )
    exporter = ExporterProcess(text, tmp_path)
    processes.append(exporter)
    exporter.start()
    await exporter.ready(session)
    messages = simulator.send(2000)
    batches = [
        [{"account": "eu", "id": m.id} for m in messages[i : i + 100]] for i in range(0, 2000, 100)
    ]
    acknowledged: list[list[dict[str, Any]]] = []
    for batch in batches[:10]:
        await exporter.post(session, batch)
        acknowledged.append(batch)

    async def counting() -> bool:
        return total(await exporter.scrape(session), FINAL) >= 200

    await wait_for(counting, timeout=30, what="final statuses being counted")
    before_kill = await exporter.scrape(session)
    exporter.kill()  # pollers and the writer are busy right now
    assert exporter.process is not None and exporter.process.returncode == -9

    exporter.start()
    await exporter.ready(session)
    after_restart = await exporter.scrape(session)
    # Nothing acknowledged was lost; counters resumed rather than restarted.
    assert total(after_restart, "sms_messages_tracked_total") == 1000
    assert total(after_restart, FINAL) >= total(before_kill, FINAL)
    for batch in batches[10:]:
        await exporter.post(session, batch)
    again = await exporter.post(session, batches[0])
    assert again["duplicates"] == 100

    async def all_final() -> Samples | None:
        samples = await exporter.scrape(session)
        return samples if total(samples, FINAL) >= 2000 else None

    samples = await wait_for(all_final, timeout=90, interval=0.25, what="2000 final messages")
    expected = truth(messages, time.time())
    assert final_by_status(samples) == expected["final"]
    assert total(samples, FINAL) == 2000  # not one more: nothing counted twice
    assert total(samples, "sms_messages_tracked_total") == 2000
    assert total(samples, "sms_message_segments_total") == expected["segments"]
    assert exporter.stop() == 0


async def test_sigterm_under_load_is_clean(
    tmp_path: Path,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """SIGTERM while polling exits 0, and the restarted exporter finishes every ref exactly once."""
    simulator, url = await start_namirial(Scenario(latency_median=0.8))
    _, text = make_config(tmp_path, {"eu": namirial_account(url, API_KEY, schedule=FAST)})
    exporter = ExporterProcess(text, tmp_path)
    processes.append(exporter)
    exporter.start()
    await exporter.ready(session)
    messages = simulator.send(500)
    await exporter.post(session, [{"account": "eu", "id": m.id} for m in messages])
    await wait_for(lambda: simulator.requests >= 50, what="polling under way")
    assert exporter.stop() == 0
    assert "exporter stopped" in exporter.log()
    exporter.start()
    await exporter.ready(session)

    async def all_final() -> Samples | None:
        samples = await exporter.scrape(session)
        return samples if total(samples, FINAL) >= 500 else None

    samples = await wait_for(all_final, timeout=60, interval=0.2, what="500 final messages")
    assert final_by_status(samples) == truth(messages, time.time())["final"]
    assert total(samples, "sms_messages_tracked_total") == 500


async def test_sigkill_after_the_ack_loses_no_webhook(
    tmp_path: Path,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """Webhooks answered 200 are applied after a SIGKILL and a restart, once each.

    Half of them are for messages not registered yet, so they wait (the registration
    grace) and are certainly acknowledged but not applied when the process dies.
    """
    simulator, url = await start_namirial(Scenario(latency_median=0.2, latency_sigma=0.2))
    token = "push-token-0123456789abcdef"
    block = namirial_account(
        url, API_KEY, schedule=FAST, push={"token": token, "safety_net": PUSH_ALONE}
    )
    _, text = make_config(tmp_path, {"eu": block})
    exporter = ExporterProcess(text, tmp_path)
    processes.append(exporter)
    exporter.start()
    await exporter.ready(session)
    messages = simulator.send(300)
    await exporter.post(session, [{"account": "eu", "id": m.id} for m in messages[:150]])
    await wait_for(
        lambda: all(m.stages[-1][0] < time.time() for m in messages), what="every message final"
    )

    async def push(message: Any) -> None:
        body = status_update(simulator, message)
        async with session.post(f"{exporter.url}/api/v1/push/eu?token={token}", json=body) as r:
            assert r.status == 200, await r.text()

    await asyncio.gather(*(push(m) for m in messages))
    exporter.kill()
    with sqlite3.connect(f"file:{tmp_path / 'store.db'}?mode=ro", uri=True) as db:
        (waiting,) = db.execute("SELECT COUNT(*) FROM push_events WHERE applied = 0").fetchone()
    assert waiting >= 150  # acknowledged, not applied: only the store has them now

    exporter.start()
    await exporter.ready(session)
    await exporter.post(session, [{"account": "eu", "id": m.id} for m in messages[150:]])

    async def all_final() -> Samples | None:
        samples = await exporter.scrape(session)
        return samples if total(samples, FINAL) >= 300 else None

    samples = await wait_for(all_final, timeout=30, interval=0.2, what="300 final messages")
    assert final_by_status(samples) == truth(messages, time.time())["final"]
    assert by_label(samples, "sms_messages_final_by_source_total", "source") == {"push": 300}
    assert total(samples, FINAL) == 300
    assert simulator.request_log == []  # never polled: the webhooks told everything
    log = exporter.log()
    assert token not in log and not any(m.number in log for m in messages)
    assert exporter.stop() == 0

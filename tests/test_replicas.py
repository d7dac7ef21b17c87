"""Several exporter processes sharing one PostgreSQL: the sum over replicas is the truth.

Prometheus aggregates replicas with ``sum without (instance)``; these tests
add up the replicas' /metrics pages the same way and compare them with the
simulator's ground truth, with 2 and 3 replicas, after a ``kill -9`` of one
of them under load, and across a restart of PostgreSQL.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import psycopg
import pytest
import yaml
from aiohttp import web

from sms_delivery_exporter.testing import Scenario, truth
from tests.conftest import API_KEY
from tests.helpers import Samples, by_label, namirial_account, total, wait_for
from tests.postgres import PASSWORD, PostgresCluster, cluster
from tests.processes import ExporterProcess
from tests.push_helpers import QUICK_NET, simulator_of, status_update

pytestmark = pytest.mark.slow
Start = Callable[..., Any]
FAST = {"first_poll": "200ms", "initial_interval": "300ms", "max_interval": "1s"}
FINAL = "sms_messages_final_total"
LEASE = 2.0


def replica_config(database_url: str, simulator_url: str) -> str:
    account = namirial_account(simulator_url, API_KEY, schedule=FAST, concurrency=8)
    document = {
        "store": {"url": database_url, "lease": f"{LEASE:g}s", "check_interval": "300ms"},
        "accounts": {"eu": account},
    }
    return yaml.safe_dump(document)


async def start_replicas(
    count: int,
    config: str,
    tmp_path: Path,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> list[ExporterProcess]:
    replicas = []
    for number in range(count):
        folder = tmp_path / f"replica-{number}"
        folder.mkdir(parents=True)
        replica = ExporterProcess(config, folder)
        processes.append(replica)
        replica.start()
        replicas.append(replica)
    for replica in replicas:
        await replica.ready(session)
    return replicas


async def summed(replicas: list[ExporterProcess], session: aiohttp.ClientSession) -> Samples:
    """``sum without (instance)`` over the replicas' pages."""
    result: Samples = {}
    for replica in replicas:
        for key, value in (await replica.scrape(session)).items():
            result[key] = result.get(key, 0.0) + value
    return result


async def register(
    replicas: list[ExporterProcess], session: aiohttp.ClientSession, ids: list[str]
) -> None:
    """Batches of 100, to each replica in turn: any replica takes intake."""
    for number, start in enumerate(range(0, len(ids), 100)):
        batch = [{"account": "eu", "id": i} for i in ids[start : start + 100]]
        await replicas[number % len(replicas)].post(session, batch)


async def until_final(
    replicas: list[ExporterProcess], session: aiohttp.ClientSession, count: int
) -> Samples:
    async def all_final() -> Samples | None:
        samples = await summed(replicas, session)
        return samples if total(samples, FINAL) >= count else None

    found: Samples = await wait_for(
        all_final, timeout=120, interval=0.25, what=f"{count} final messages"
    )
    return found


def no_secret_in(text: str) -> None:
    assert PASSWORD not in text and quote(PASSWORD, safe="") not in text
    assert "SECRET" not in text


@pytest.mark.parametrize("count", [2, 3])
async def test_replicas_sum_to_the_truth(
    count: int,
    tmp_path: Path,
    postgres_url: str,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """Every counter summed over the replicas equals the truth, and the work is shared."""
    scenario = Scenario(
        latency_median=0.8,
        undelivered=0.15,
        rejected=0.1,
        error_rate=0.05,
        throttle_rate=0.02,
        retry_after=0.2,
    )
    simulator, url = await start_namirial(scenario)
    config = replica_config(postgres_url, url)
    # One replica first: the others start on a store that already holds counts.
    replicas = await start_replicas(1, config, tmp_path / "first", session, processes)
    messages = simulator.send(600)
    await register(replicas, session, [m.id for m in messages[:200]])
    await until_final(replicas, session, 200)
    replicas += await start_replicas(count - 1, config, tmp_path, session, processes)
    await register(replicas, session, [m.id for m in messages[200:]])
    samples = await until_final(replicas, session, 600)
    expected = truth(messages, time.time())
    assert by_label(samples, FINAL, "status") == expected["final"]
    assert total(samples, FINAL) == 600  # not one more
    assert total(samples, "sms_messages_tracked_total") == 600
    assert total(samples, "sms_message_segments_total") == expected["segments"]
    assert total(samples, "sms_messages_in_flight") == 0
    failures = by_label(samples, "sms_message_failures_total", "reason")
    assert sum(failures.values()) == expected["final"].get("undelivered", 0) + expected[
        "final"
    ].get("rejected", 0)
    # One replica serves the shared series; each replica counts its own calls and intake.
    assert total(samples, "sms_exporter_store_leader") == 1
    assert total(samples, "sms_exporter_intake_total", result="accepted") == 600
    calls = total(samples, "sms_exporter_provider_requests_total")
    resent = total(samples, "sms_exporter_provider_requests_total", code="resent")
    assert calls - resent == len(simulator.calls)
    assert total(samples, "sms_exporter_throttled_total") == simulator.faults.served["throttle"]
    for replica in replicas:
        own = await replica.scrape(session)
        assert total(own, "sms_exporter_provider_requests_total", code="200") > 0, "idle replica"
        async with session.get(replica.url + "/") as landing:
            no_secret_in(await landing.text())
        async with session.get(replica.url + "/metrics") as page:
            no_secret_in(await page.text())
    for replica in replicas:
        assert replica.stop() == 0
        no_secret_in(replica.log())


async def leased_now(database_url: str) -> dict[int, int]:
    """Refs some replica holds right now, with their versions."""
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute(
            "SELECT id, version FROM refs WHERE lease_until > extract(epoch FROM clock_timestamp())"
        )
        return dict(await cursor.fetchall())


async def versions(database_url: str, ids: list[int]) -> dict[int, int]:
    async with await psycopg.AsyncConnection.connect(database_url) as connection:
        cursor = await connection.execute("SELECT id, version FROM refs WHERE id = ANY(%s)", (ids,))
        return dict(await cursor.fetchall())


@pytest.mark.parametrize("count", [2, 3])
async def test_kill_9_of_a_replica_under_load(
    count: int,
    tmp_path: Path,
    postgres_url: str,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """The leader killed mid-poll: its refs are polled by the others once its leases run out,
    another replica serves the series, nothing is lost and nothing counted twice."""
    scenario = Scenario(latency_median=1.5, latency_sigma=0.5, undelivered=0.1, rejected=0.1)
    simulator, url = await start_namirial(scenario)
    replicas = await start_replicas(
        count, replica_config(postgres_url, url), tmp_path, session, processes
    )
    messages = simulator.send(1500)
    await register(replicas, session, [m.id for m in messages])

    async def counting() -> bool:
        return total(await summed(replicas, session), FINAL) >= 200

    await wait_for(counting, timeout=60, what="final statuses being counted")
    pages = [await replica.scrape(session) for replica in replicas]
    [leader] = [r for r, page in zip(replicas, pages, strict=True) if
                total(page, "sms_exporter_store_leader") == 1]  # fmt: skip
    before = total(await summed(replicas, session), FINAL)
    held = await leased_now(postgres_url)
    leader.kill()  # its pollers and writer are busy right now
    assert held, "no ref was leased under load"
    survivors = [replica for replica in replicas if replica is not leader]

    # Every ref leased at the kill is polled again, by a survivor, once the lease is over.
    async def repolled() -> bool:
        now = await versions(postgres_url, list(held))
        return all(now[ref] > version for ref, version in held.items() if ref in now)

    await wait_for(repolled, timeout=LEASE * 5 + 5, what="the dead replica's refs polled")
    samples = await until_final(survivors, session, 1500)
    assert total(samples, FINAL) >= before
    expected = truth(messages, time.time())
    assert by_label(samples, FINAL, "status") == expected["final"]
    assert total(samples, FINAL) == 1500  # nothing counted twice
    assert total(samples, "sms_messages_tracked_total") == 1500
    assert total(samples, "sms_message_segments_total") == expected["segments"]
    assert total(samples, "sms_exporter_store_leader") == 1


@pytest.fixture
def own_cluster() -> Any:
    """A cluster of the test's own, for a test that restarts it."""
    from tests import postgres as pg

    if not pg.available():
        pytest.skip("PostgreSQL is not installed (make test installs it as root)")
    with cluster() as made:
        yield made


async def post(replica: ExporterProcess, session: aiohttp.ClientSession, ids: list[str]) -> int:
    body = [{"account": "eu", "id": i} for i in ids]
    try:
        async with session.post(replica.url + "/api/v1/messages", json=body) as response:
            await response.read()
            return response.status
    except aiohttp.ClientError:
        return 0


async def ready_status(replica: ExporterProcess, session: aiohttp.ClientSession) -> int:
    async with session.get(replica.url + "/-/ready") as response:
        return response.status


async def test_postgresql_restarted_under_load(
    tmp_path: Path,
    own_cluster: PostgresCluster,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """While the database is down the replicas are not ready and the intake answers 503;
    they reconnect by themselves, and every acknowledged ref is counted once."""
    simulator, url = await start_namirial(Scenario(latency_median=1.0, undelivered=0.1))
    database = own_cluster.new_database()
    replicas = await start_replicas(2, replica_config(database, url), tmp_path, session, processes)
    messages = simulator.send(1200)
    ids = [m.id for m in messages]
    acknowledged: set[str] = set()
    refused: list[list[str]] = []
    stop_sending = asyncio.Event()

    async def send_continuously() -> None:
        for number, start in enumerate(range(0, len(ids), 20)):
            batch = ids[start : start + 20]
            status = await post(replicas[number % 2], session, batch)
            (acknowledged.update(batch) if status == 202 else refused.append(batch))
            await asyncio.sleep(0.1)
            if stop_sending.is_set():
                refused.append(ids[start + 20 :])
                break

    sender = asyncio.create_task(send_continuously())
    try:
        await restart_under_load(own_cluster, replicas, session, simulator, acknowledged)
    finally:
        stop_sending.set()
        await asyncio.gather(sender, return_exceptions=True)
    for batch in refused:  # what was refused is sent again, as a sender would
        assert await post(replicas[0], session, batch) == 202
        acknowledged.update(batch)
    assert acknowledged == set(ids)
    samples = await until_final(replicas, session, 1200)
    assert total(samples, FINAL) == 1200
    assert total(samples, "sms_messages_tracked_total") == 1200
    assert by_label(samples, FINAL, "status") == truth(messages, time.time())["final"]
    problems = by_label(samples, "sms_exporter_store_problems_total", "problem")
    assert problems.get("unreachable", 0) >= 2  # each replica saw it, and said so


async def restart_under_load(
    own_cluster: PostgresCluster,
    replicas: list[ExporterProcess],
    session: aiohttp.ClientSession,
    simulator: Any,
    acknowledged: set[str],
) -> None:
    await wait_for(lambda: len(acknowledged) >= 300, timeout=30, what="intake under way")
    own_cluster.stop("fast")

    async def noticed() -> bool:
        statuses = [await ready_status(replica, session) for replica in replicas]
        return all(status == 503 for status in statuses)

    await wait_for(noticed, timeout=15, what="/-/ready 503 on every replica")
    # Refused, not acknowledged: were it registered, it would be counted below (1201 final).
    [unregistered] = simulator.send(1)
    assert await post(replicas[0], session, [unregistered.id]) == 503
    own_cluster.start()
    for replica in replicas:
        await replica.ready(session, timeout=30)


async def test_unreachable_database_at_start(tmp_path: Path, start_namirial: Start) -> None:
    """An exporter whose database cannot be reached exits at once, saying which and why."""
    _, url = await start_namirial()
    database = f"postgresql://sms_exporter:{quote(PASSWORD, safe='')}@127.0.0.1:1/nowhere"
    exporter = ExporterProcess(replica_config(database, url), tmp_path)
    exporter.start()
    assert exporter.process is not None
    assert exporter.process.wait(timeout=60) == 1
    log = exporter.log()
    assert (
        "cannot connect to the PostgreSQL store postgresql://sms_exporter@127.0.0.1:1/nowhere"
        in log
    )
    no_secret_in(log)


def balancer(targets: list[str]) -> web.Application:
    """A load balancer in front of the replicas: each call to the next one in turn."""
    turn = itertools.count()

    async def forward(request: web.Request) -> web.Response:
        target = targets[next(turn) % len(targets)]
        headers = {k: v for k, v in request.headers.items() if k.lower() in FORWARDED}
        async with (
            aiohttp.ClientSession() as client,
            client.post(target + request.path_qs, data=await request.read(), headers=headers) as r,
        ):
            return web.Response(status=r.status, body=await r.read())

    app = web.Application()
    app.router.add_post("/{tail:.*}", forward)
    return app


FORWARDED = {"content-type", "x-sfmc-ens-signature"}


async def test_webhooks_spread_over_replicas_count_once(
    tmp_path: Path,
    postgres_url: str,
    serve: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """Webhooks (late, twice, out of order, some lost) spread over two replicas by a load
    balancer, and the safety-net polls of both: each message's final status counted once,
    whichever replica was told and whichever polled, and every kept event applied."""
    simulator = simulator_of(
        "namirial",
        delivered=0.75,
        undelivered=0.15,
        rejected=0.1,
        latency_median=0.8,
        push_jitter=0.5,
        push_duplicate_rate=0.2,
        push_loss_rate=0.2,
    )
    url = await serve(simulator.app())
    account = {
        "provider": "namirial",
        **simulator.account_options(url),
        "schedule": FAST,
        "push": {**(simulator.push_options() or {}), "safety_net": QUICK_NET},
    }
    document = {
        "store": {"url": postgres_url, "lease": f"{LEASE:g}s", "check_interval": "300ms"},
        "accounts": {"eu": account},
    }
    replicas = await start_replicas(2, yaml.safe_dump(document), tmp_path, session, processes)
    simulator.push_to(await serve(balancer([r.url for r in replicas])) + "/api/v1/push/eu")
    items = [{"account": "eu", **simulator.demo_send()} for _ in range(400)]
    for number, start in enumerate(range(0, len(items), 100)):
        await replicas[number % 2].post(session, items[start : start + 100])
    # Every webhook call answered (a late copy may come after its message's final), so
    # that the scrapes below count each call the simulator made.
    pusher = simulator.pusher  # type: ignore[attr-defined]
    await wait_for(lambda: pusher.idle, timeout=60, what="every webhook call answered")
    samples = await until_final(replicas, session, 400)
    expected = simulator.truth()
    assert by_label(samples, FINAL, "status") == expected["final"]
    assert total(samples, FINAL) == 400
    assert total(samples, "sms_messages_tracked_total") == 400
    sources = by_label(samples, "sms_messages_final_by_source_total", "source")
    assert sum(sources.values()) == 400
    assert sources.get("push", 0) > 0 and sources.get("poll", 0) > 0  # 20% lost: polls found them
    calls = simulator.pusher.stats["calls"]  # type: ignore[attr-defined]
    assert total(samples, "sms_exporter_push_requests_total", result="accepted") == calls
    for replica in replicas:
        own = await replica.scrape(session)
        assert total(own, "sms_exporter_push_requests_total", result="accepted") > 0

    async def all_applied() -> bool:
        async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
            cursor = await connection.execute("SELECT count(*) FROM push_events WHERE NOT applied")
            return await cursor.fetchone() == (0,)

    # A late copy may still be on its way after the last final: each is applied soon after.
    await wait_for(all_applied, what="every kept event applied")
    for replica in replicas:
        assert replica.stop() == 0


async def test_webhooks_a_dead_replica_kept_are_applied_by_another(
    tmp_path: Path,
    postgres_url: str,
    start_namirial: Start,
    session: aiohttp.ClientSession,
    processes: list[ExporterProcess],
) -> None:
    """A replica answers 200 to webhooks, then dies (kill -9) before applying them: the
    other, still running, takes them up from the shared inbox and applies each once."""
    simulator, url = await start_namirial(Scenario(latency_median=0.2, latency_sigma=0.2))
    token = "push-token-0123456789abcdef"
    never = {"first_poll": "1h", "initial_interval": "1h", "max_interval": "2h"}
    # A grace longer than the 200 posts and the kill take on a loaded machine: were it
    # over, the doomed replica would drop some as unknown before it dies.
    push = {"token": token, "safety_net": never, "registration_grace": "10s"}
    account = namirial_account(url, API_KEY, schedule=FAST, push=push)
    document = {
        "store": {"url": postgres_url, "lease": f"{LEASE:g}s", "check_interval": "300ms"},
        "accounts": {"eu": account},
    }
    doomed, survivor = await start_replicas(
        2, yaml.safe_dump(document), tmp_path, session, processes
    )
    messages = simulator.send(200)
    await register([survivor], session, [m.id for m in messages[:100]])
    await wait_for(
        lambda: all(m.stages[-1][0] < time.time() for m in messages), what="every message final"
    )

    async def post(message: Any) -> None:
        body = status_update(simulator, message)
        async with session.post(f"{doomed.url}/api/v1/push/eu?token={token}", json=body) as r:
            assert r.status == 200, await r.text()

    # Half are for messages not registered yet: they wait for the registration grace,
    # acknowledged and certainly not applied when the replica dies.
    await asyncio.gather(*(post(m) for m in messages))
    doomed.kill()
    async with await psycopg.AsyncConnection.connect(postgres_url) as connection:
        cursor = await connection.execute("SELECT count(*) FROM push_events WHERE NOT applied")
        row = await cursor.fetchone()
    assert row is not None and row[0] >= 100
    await register([survivor], session, [m.id for m in messages[100:]])
    samples = await until_final([survivor], session, 200)
    assert by_label(samples, FINAL, "status") == truth(messages, time.time())["final"]
    assert by_label(samples, "sms_messages_final_by_source_total", "source") == {"push": 200}
    assert simulator.request_log == []  # never polled: the webhooks told everything
    assert token not in survivor.log()
    assert survivor.stop() == 0

"""Discovery: Namirial's list endpoints walked back page by page, against the simulator.

The walk's paging edge cases on a hand-moved clock (the simulator's times
have whole seconds, as Namirial's); then the exporter in-process, whose
discovered counts must equal the simulator's truth, on both stores, with
registered messages counted once and a restart that repeats nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from sms_delivery_exporter.api import DiscoveryFeed
from sms_delivery_exporter.config import ConfigError
from sms_delivery_exporter.discovery import FeedCursor, Walk, walk_back
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.namirial.discovery import (
    NamirialDiscoverer,
    NamirialDiscoverySettings,
)
from sms_delivery_providers.namirial.provider import NamirialProvider
from sms_delivery_providers.namirial.simulator import NamirialSimulator
from tests.conftest import API_KEY, FakeClock
from tests.helpers import make_config, namirial_account, parse_samples, total, wait_for
from tests.push_helpers import start_pushed

Start = Callable[..., Any]
ALL_DELIVERED = Scenario(delivered=1, undelivered=0, rejected=0)


class Feed:
    """A simulator on a hand-moved clock and a discoverer of one reference key."""

    def __init__(self, simulator: NamirialSimulator, discoverer: NamirialDiscoverer) -> None:
        self.simulator = simulator
        self.discoverer = discoverer
        self.cursor = FeedCursor()
        self.seen: list[str] = []

    @property
    def feed(self) -> DiscoveryFeed:
        return self.discoverer.feeds()[0]

    def send(self, clock: FakeClock, count: int, *, per_second: int) -> set[str]:
        """``count`` messages, ``per_second`` in each whole second; the clock ends past them."""
        ids: set[str] = set()
        clock.now = float(int(clock.now)) + 0.1
        for start in range(0, count, per_second):
            for message in self.simulator.send(min(per_second, count - start), reference="orders"):
                ids.add(message.id)
            clock.advance(1.0)
        return ids

    async def walk(self) -> Walk:
        walked = await walk_back(self.discoverer, self.feed, self.cursor, since=0, max_pages=50)
        self.cursor = FeedCursor.load(walked.cursor.dump())  # as the store keeps it
        found = [message.ref.id for _, message in walked.new]  # type: ignore[attr-defined]
        self.seen.extend(found)
        return walked

    def found(self, walked: Walk) -> set[str]:
        return {message.ref.id for _, message in walked.new}  # type: ignore[attr-defined]


@pytest.fixture
async def feed(start_namirial: Start, build_provider: Start, clock: FakeClock) -> Feed:
    simulator, url = await start_namirial(ALL_DELIVERED, clock=clock, log_requests=False)
    provider: NamirialProvider = build_provider(NamirialProvider, base_url=url, api_key=API_KEY)
    settings = NamirialDiscoverySettings(references=("orders",))
    return Feed(simulator, NamirialDiscoverer(provider.settings, settings, provider.http))


class TestPaging:
    """Each walk finds every message sent since the last one, once, at one call per page."""

    async def test_exactly_a_page_of_new_messages(self, feed: Feed, clock: FakeClock) -> None:
        """100 new messages: all found; the second page only confirms the end."""
        feed.send(clock, 3, per_second=1)
        assert len((await feed.walk()).new) == 3
        before = feed.simulator.list_requests
        sent = feed.send(clock, 100, per_second=4)
        walked = await feed.walk()
        assert feed.found(walked) == sent
        assert len(walked.new) == 100
        assert feed.simulator.list_requests - before == walked.pages == 2

    async def test_more_than_a_page(self, feed: Feed, clock: FakeClock) -> None:
        """A burst of 250 between two walks: all found, none twice, in 3-4 calls."""
        feed.send(clock, 2, per_second=1)
        await feed.walk()
        sent = feed.send(clock, 250, per_second=7)
        walked = await feed.walk()
        assert feed.found(walked) == sent
        assert len(walked.new) == 250
        assert walked.pages <= 4
        assert len(feed.seen) == len(set(feed.seen)) == 252

    async def test_pages_ending_inside_a_second(self, feed: Feed, clock: FakeClock) -> None:
        """50 messages a second: every page boundary falls inside a second; none is skipped."""
        sent = feed.send(clock, 150, per_second=50)
        walked = await feed.walk()
        assert feed.found(walked) == sent

    async def test_same_second_as_the_last_walk(self, feed: Feed, clock: FakeClock) -> None:
        """A message sent in the second the last walk saw last is new; those it saw are not."""
        clock.now = 1_790_000_000.1
        first = {m.id for m in feed.simulator.send(3, reference="orders")}
        clock.now = 1_790_000_000.5
        assert feed.found(await feed.walk()) == first
        clock.now = 1_790_000_000.7  # the same whole second as the three above
        late = {m.id for m in feed.simulator.send(2, reference="orders")}
        clock.now = 1_790_000_001.5
        assert feed.found(await feed.walk()) == late
        assert (await feed.walk()).new == []

    async def test_more_than_a_page_in_one_second(self, feed: Feed, clock: FakeClock) -> None:
        """The documented limit: 130 in one second yields one page's worth, and the walk ends."""
        sent = feed.send(clock, 130, per_second=130)
        walked = await feed.walk()
        assert len(walked.new) == 100
        assert feed.found(walked) <= sent
        assert walked.pages <= 2

    async def test_nothing_new(self, feed: Feed, clock: FakeClock) -> None:
        """A quiet key costs one call per walk."""
        feed.send(clock, 120, per_second=10)
        await feed.walk()
        before = feed.simulator.list_requests
        walked = await feed.walk()
        assert walked.new == []
        assert feed.simulator.list_requests - before == 1

    async def test_count_above_100_is_capped(
        self, feed: Feed, clock: FakeClock, session: aiohttp.ClientSession
    ) -> None:
        """The simulator caps count silently, as Namirial does; the config refuses more."""
        feed.send(clock, 130, per_second=13)
        base = feed.discoverer._base
        async with session.get(
            f"{base}/api/messagestatus/reference/orders",
            params={"count": "500"},
            headers={"X-Api-Key": API_KEY},
        ) as response:
            assert len((await response.json())["messages"]) == 100
        with pytest.raises(ValueError, match="page_size"):
            NamirialDiscoverySettings(references=("orders",), page_size=101)


class Backdated:
    """The real clock, less a lag the test sets: messages sent in past seconds."""

    def __init__(self) -> None:
        self.lag = 0.0

    def __call__(self) -> float:
        return time.time() - self.lag


async def _value(client: Any, name: str, **labels: str) -> float:
    """A series' sum on /metrics as Prometheus reads it (a shared store's totals included)."""
    response = await client.get("/metrics")
    return total(parse_samples(await response.text()), name, **labels)


class TestExporter:
    """The exporter tracks what the list endpoints show, as the simulator's truth says."""

    async def test_discovered_counts_equal_truth(
        self,
        tmp_path: Path,
        store_section: dict[str, Any],
        start_namirial: Start,
        start_exporter: Start,
    ) -> None:
        scenario = Scenario(
            delivered=0.8,
            undelivered=0.1,
            rejected=0.1,
            queue_seconds=0.05,
            latency_median=0.3,
            latency_max=1.0,
            seed=7,
        )
        clock = Backdated()
        simulator, url = await start_namirial(scenario, clock=clock)
        simulator.send(30, reference="other")  # another key: never discovered
        sent = []
        for lag in (3.0, 2.0, 1.0):  # 50 a second: page boundaries fall inside seconds
            clock.lag = lag
            sent += simulator.send(50, reference="orders")
        clock.lag = 0.0
        account = namirial_account(
            url, API_KEY, discovery={"references": ["orders"], "interval": "1s"}
        )
        config, _ = make_config(tmp_path, {"eu": account}, store=store_section)
        _, client = await start_exporter(config)
        registered = [m.id for m in sent[:20]]
        response = await client.post(
            "/api/v1/messages", json=[{"account": "eu", "id": i} for i in registered]
        )
        assert response.status == 202

        final_truth = {"delivered": 0, "undelivered": 0, "rejected": 0}
        for message in sent:
            final_truth[message.fate] += 1

        async def finals() -> bool:
            found = {
                status: await _value(
                    client, "sms_messages_final_total", account="eu", status=status
                )
                for status in final_truth
            }
            return found == final_truth

        await wait_for(finals, timeout=30, what="finals = truth")
        assert await _value(client, "sms_messages_tracked_total", account="eu") == 150
        discovered = await _value(
            client, "sms_messages_tracked_from_discovery_total", account="eu", feed="reference"
        )
        assert 130 <= discovered <= 150  # the registered ones, whoever was first
        # Each final counted once, by how it was learned: most by the list answers.
        by_list = await _value(
            client, "sms_messages_final_by_source_total", account="eu", source="discovery"
        )
        by_poll = await _value(
            client, "sms_messages_final_by_source_total", account="eu", source="poll"
        )
        assert by_list + by_poll == 150
        assert by_list > 75
        assert await _value(client, "sms_discovery_pages_total", result="error") == 0
        assert await _value(client, "sms_discovery_last_success_timestamp_seconds") > 0
        # The list answers were the observations: far fewer status calls than messages.
        by_id = [c for c in simulator.calls if "/reference/" not in c.path]
        assert len(by_id) < 100

    async def test_lists_unreadable_from_the_start_are_stale_from_the_start(
        self,
        tmp_path: Path,
        store_section: dict[str, Any],
        start_namirial: Start,
        start_exporter: Start,
    ) -> None:
        """A feed that never completes a walk has no last success, but says since when it is
        walked: SMSDiscoveryStale counts from there (prometheus/tests/canary.test.yml)."""
        simulator, url = await start_namirial(Scenario())
        simulator.list_broken = True
        before = time.time()
        account = namirial_account(
            url, API_KEY, discovery={"references": ["orders"], "interval": "1s"}
        )
        config, _ = make_config(tmp_path, {"eu": account}, store=store_section)
        _, client = await start_exporter(config)
        since = "sms_discovery_walking_since_timestamp_seconds"

        async def failing() -> bool:
            return await _value(client, "sms_discovery_pages_total", result="error") >= 3

        await wait_for(failing, what="three failed walks")
        assert before <= await _value(client, since, feed="reference") <= time.time()
        assert await _value(client, "sms_discovery_last_success_timestamp_seconds") == 0
        first = await _value(client, since, feed="reference")
        simulator.list_broken = False

        async def walked() -> bool:
            return await _value(client, "sms_discovery_last_success_timestamp_seconds") > first

        await wait_for(walked, what="a complete walk")
        assert await _value(client, since, feed="reference") == first  # kept: since when

    async def test_restart_repeats_nothing(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        simulator, url = await start_namirial(ALL_DELIVERED.model_copy(update={"seed": 3}))
        simulator.send(40, reference="orders")
        account = namirial_account(
            url, API_KEY, discovery={"references": ["orders"], "interval": "1s"}
        )
        config, _ = make_config(tmp_path, {"eu": account})
        _, client = await start_exporter(config)

        async def tracked(client: Any, expected: float) -> bool:
            return await _value(client, "sms_messages_tracked_total", account="eu") == expected

        await wait_for(lambda: tracked(client, 40), what="40 discovered")
        await client.close()
        walks = simulator.list_requests
        _, client = await start_exporter(config)
        await wait_for(lambda: simulator.list_requests >= walks + 2, what="two walks")
        assert await tracked(client, 40)
        simulator.send(5, reference="orders")
        await wait_for(lambda: tracked(client, 45), what="the 5 new ones")


class TestConfig:
    """A discovery block is checked, and phone numbers never appear anywhere."""

    def test_phone_numbers_hashed_and_refused_unquoted(self, tmp_path: Path) -> None:
        number = "+393331234567"
        with pytest.raises(ConfigError, match="phone_numbers") as refused:
            make_config(
                tmp_path,
                {"eu": namirial_account("http://x", API_KEY, discovery={"phone_numbers": ["333"]})},
            )
        assert "phone_numbers" in str(refused.value)
        assert "333" not in str(refused.value).replace("accounts.eu", "")
        config, _ = make_config(
            tmp_path,
            {"eu": namirial_account("http://x", API_KEY, discovery={"phone_numbers": [number]})},
        )
        discovery = config.accounts["eu"].discovery
        assert discovery is not None
        assert number not in repr(discovery)

    def test_block_without_feeds_or_for_a_provider_without_discovery(self, tmp_path: Path) -> None:
        with pytest.raises(ConfigError, match="references or phone_numbers"):
            make_config(tmp_path, {"eu": namirial_account("http://x", API_KEY, discovery={})})
        d7 = {"provider": "d7", "token": "t", "discovery": {"references": ["x"]}}
        with pytest.raises(ConfigError, match="no discovery capability"):
            make_config(tmp_path, {"d7": d7})


class TestPhoneNumbers:
    """A number's messages are discovered; the number is kept nowhere in clear."""

    async def test_number_feed(
        self,
        tmp_path: Path,
        start_namirial: Start,
        start_exporter: Start,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        import logging
        import sqlite3

        caplog.set_level(logging.DEBUG)
        number = "+393337654321"
        simulator, url = await start_namirial(ALL_DELIVERED.model_copy(update={"seed": 5}))
        simulator.send(12, number=number)
        simulator.send(7)  # other numbers
        account = namirial_account(
            url, API_KEY, discovery={"phone_numbers": [number], "interval": "1s"}
        )
        config, _ = make_config(tmp_path, {"eu": account})
        _, client = await start_exporter(config)

        async def discovered() -> bool:
            found = await _value(
                client,
                "sms_messages_tracked_from_discovery_total",
                account="eu",
                feed="phone_number",
            )
            return found == 12

        await wait_for(discovered, what="the number's 12 messages")
        page = await (await client.get("/metrics")).text()
        await client.close()
        digits = number.lstrip("+")
        assert digits not in page
        ours = [
            r.getMessage() + str(r.__dict__) for r in caplog.records if r.name.startswith("sms")
        ]
        assert ours
        assert digits not in "\n".join(ours)  # (the simulator's own access log has it)
        with sqlite3.connect(tmp_path / "store.db") as db:
            rows = [*db.execute("SELECT * FROM refs"), *db.execute("SELECT * FROM feed_cursors")]
            stored = "\n".join(map(str, rows))
        assert stored
        assert digits not in stored


class TestWithPush:
    """Registered, pushed and discovered: each message one, each final counted once."""

    @pytest.mark.parametrize("track_unregistered", [True, False])
    async def test_each_message_once_whoever_told(
        self, tmp_path: Path, serve: Start, start_exporter: Start, track_unregistered: bool
    ) -> None:
        """Webhooks that track what nobody registered, or that wait for a registration
        (which discovery then makes): 50 messages, 50 finals, whatever came first."""
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            push={"track_unregistered": track_unregistered},
            discovery={"references": ["orders"], "interval": "1s"},
        )
        simulator = pushed.simulator
        assert isinstance(simulator, NamirialSimulator)
        simulator.demo_reference = "orders"
        await pushed.post(pushed.register(20))  # registered, pushed and discovered
        for _ in range(30):
            simulator.demo_send()  # pushed and discovered only
        fates: dict[str, float] = {}
        for message in simulator.messages.values():
            fates[message.fate] = fates.get(message.fate, 0) + 1
        client = pushed.client

        async def all_final() -> bool:
            finals = await _value(client, "sms_messages_final_total", account="acct")
            return finals == 50

        await wait_for(all_final, what="50 finals")
        assert await _value(client, "sms_messages_tracked_total", account="acct") == 50
        for fate, count in fates.items():
            got = await _value(client, "sms_messages_final_total", account="acct", status=fate)
            assert got == count, fate
        by_source = await _value(client, "sms_messages_final_by_source_total", account="acct")
        assert by_source == 50

"""d7: the seed's message-log, every status, parts, cost, country, every error, the simulator."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    PaymentRequired,
    RefInvalid,
    RefNotFound,
    Status,
    Throttled,
    TransientError,
)
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.d7.provider import D7Provider, D7Settings, parse_report
from sms_delivery_providers.d7.ref import D7Ref
from sms_delivery_providers.d7.simulator import D7Simulator
from tests.conftest import FakeClock

Serve = Callable[..., Any]
Build = Callable[..., Any]

SEED_EXAMPLE: dict[str, Any] = {
    "request_id": "9d056a09-0fc4-4f68-9058-3846d58aa244",
    "total_recipients": 2,
    "channel": "sms",
    "messages": [
        {
            "msg_id": "7053a678-75fe-11ed-9e31-0242ac14001c",
            "country": "AE",
            "recipient": "+9715097526xx",
            "status": "sent",
            "number_of_sms": 4,
            "sms_cost": 0.0004,
            "schedule_time": None,
        },
        {
            "msg_id": "7052cd16-75fe-11ed-9e31-0242ac14001c",
            "country": "AE",
            "recipient": "+9715097526xx",
            "status": "sent",
            "number_of_sms": 4,
            "sms_cost": 0.0004,
            "schedule_time": None,
        },
    ],
}


def settings(**changes: Any) -> D7Settings:
    return D7Settings(provider="d7", api_token="t", **changes)


def with_status(status: str) -> dict[str, Any]:
    message = {**SEED_EXAMPLE["messages"][0], "status": status}
    return {**SEED_EXAMPLE, "total_recipients": 1, "messages": [message]}


class TestMapping:
    """The seven documented statuses, the older spelling, and what each message carries."""

    def test_seed_example(self) -> None:
        report = parse_report(SEED_EXAMPLE, settings(currency="EUR"))
        assert report.complete
        assert [o.status for o in report.observations] == [Status.SENT, Status.SENT]
        first = report.observations[0]
        assert (first.segments, first.cost, first.currency) == (4, 0.0004, "EUR")
        assert first.key == "7053a678-75fe-11ed-9e31-0242ac14001c"
        assert first.country is None  # off unless the account asks for it

    @pytest.mark.parametrize(
        ("status", "canonical", "reason"),
        [
            ("scheduled", Status.QUEUED, None),
            ("sent", Status.SENT, None),
            ("delivered", Status.DELIVERED, None),
            ("un_delivered", Status.UNDELIVERED, "delivery_failed"),
            ("undelivered", Status.UNDELIVERED, "delivery_failed"),
            ("not_reachable", Status.UNDELIVERED, "not_reachable"),
            ("spam_content", Status.REJECTED, "spam_content"),
            ("insufficient_credit", Status.REJECTED, "insufficient_credit"),
        ],
    )
    def test_status(self, status: str, canonical: Status, reason: str | None) -> None:
        [seen] = parse_report(with_status(status), settings()).observations
        assert (seen.status, seen.reason, seen.provider_status) == (canonical, reason, status)

    def test_country_when_enabled(self) -> None:
        [seen] = parse_report(with_status("delivered"), settings(country_label=True)).observations
        assert seen.country == "AE"

    def test_incomplete_until_all_recipients(self) -> None:
        body = {**SEED_EXAMPLE, "total_recipients": 3}
        assert not parse_report(body, settings()).complete

    @pytest.mark.parametrize(
        ("body", "match"),
        [
            ({"request_id": "x"}, "no messages list"),
            ({**SEED_EXAMPLE, "total_recipients": "2"}, "total_recipients"),
            (with_status("lost_in_space"), "unknown message status 'lost_in_space'"),
            ({**SEED_EXAMPLE, "messages": [{"status": "sent"}]}, "no msg_id"),
        ],
    )
    def test_malformed(self, body: dict[str, Any], match: str) -> None:
        with pytest.raises(BadResponse, match=match):
            parse_report(body, settings())

    def test_currency_is_iso_or_unknown(self) -> None:
        from pydantic import ValidationError

        with pytest.raises(ValidationError, match="currency"):
            settings(currency="euros")


async def setup(
    serve: Serve,
    build: Build,
    scenario: Scenario | None = None,
    clock: FakeClock | None = None,
    **block: Any,
) -> tuple[D7Simulator, Any]:
    simulator = D7Simulator(api_token="good-token", scenario=scenario, clock=clock or time.time)
    url = await serve(simulator.app())
    options = {"base_url": url, "api_token": "good-token", **block}
    return simulator, build(D7Provider, **options)


def ref(request_id: str) -> D7Ref:
    return D7Ref(request_id=request_id)


class TestAgainstSimulator:
    """Recipients appear over time; every error maps to what the host does about it."""

    async def test_recipients_appear_then_finish(
        self, serve: Serve, build_provider: Build, clock: FakeClock
    ) -> None:
        scenario = Scenario(delivered=1, undelivered=0, rejected=0)
        simulator, provider = await setup(
            serve, build_provider, scenario, clock, country_label=True
        )
        request = simulator.send(3)
        first = await provider.fetch_one(ref(request.request_id))
        assert len(first.observations) == 1 and not first.complete
        clock.advance(max(m.stages[-1][0] for m in request.recipients) - clock.now + 1)
        report = await provider.fetch_one(ref(request.request_id))
        assert report.complete
        assert {o.status for o in report.observations} == {Status.DELIVERED}
        assert sorted(o.segments or 0 for o in report.observations) == sorted(
            m.segments for m in request.recipients
        )
        assert {o.country for o in report.observations} <= {"AE", "GB", "IT", "IN", "US"}

    async def test_wrong_token(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await setup(serve, build_provider, api_token="revoked")
        with pytest.raises(AuthFailed, match="401") as raised:
            await provider.fetch_one(ref(simulator.send(1).request_id))
        assert "revoked" not in str(raised.value)

    async def test_out_of_credit(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await setup(serve, build_provider)
        simulator.out_of_credit = True
        with pytest.raises(PaymentRequired) as raised:
            await provider.fetch_one(ref(simulator.send(1).request_id))
        assert raised.value.kind == "payment_required"

    async def test_unknown_request(self, serve: Serve, build_provider: Build) -> None:
        _, provider = await setup(serve, build_provider)
        with pytest.raises(RefNotFound):
            await provider.fetch_one(ref("00000000-0000-4000-8000-000000000000"))

    async def test_malformed_request_id_is_permanent(
        self, serve: Serve, build_provider: Build
    ) -> None:
        _, provider = await setup(serve, build_provider)
        with pytest.raises(RefInvalid, match="422"):
            await provider.fetch_one(D7Ref.model_construct(request_id="not-a-uuid"))

    @pytest.mark.parametrize(
        ("scenario", "error", "match"),
        [
            (Scenario(throttle_rate=1, retry_after=3), Throttled, "429"),
            (Scenario(error_rate=1), TransientError, "HTTP 500"),
            (Scenario(malformed_rate=1), BadResponse, "not valid JSON"),
        ],
    )
    async def test_faults(
        self,
        serve: Serve,
        build_provider: Build,
        scenario: Scenario,
        error: type[Exception],
        match: str,
    ) -> None:
        simulator, provider = await setup(serve, build_provider, scenario)
        with pytest.raises(error, match=match) as raised:
            await provider.fetch_one(ref(simulator.send(1).request_id))
        if isinstance(raised.value, Throttled):
            assert raised.value.retry_after == 3

    async def test_slow_times_out(self, serve: Serve, build_provider: Build) -> None:
        simulator, provider = await setup(
            serve, build_provider, Scenario(slow_rate=1, slow_seconds=5), timeout="200ms"
        )
        with pytest.raises(TransientError) as raised:
            await provider.fetch_one(ref(simulator.send(1).request_id))
        assert raised.value.kind == "timeout"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("number_of_sms", True),
        ("number_of_sms", -1),
        ("sms_cost", float("inf")),
        ("sms_cost", float("nan")),
        ("sms_cost", "0.1"),
        ("sms_cost", False),
    ],
)
def test_unusable_parts_and_cost_are_left_out(field: str, value: object) -> None:
    """A broken number is not counted (an infinite cost would poison the counter for good)."""
    body = with_status("delivered")
    body["messages"][0][field] = value
    [seen] = parse_report(body, settings()).observations
    assert (seen.segments if field == "number_of_sms" else seen.cost) is None


def test_boolean_recipient_count_is_refused() -> None:
    with pytest.raises(BadResponse, match="total_recipients"):
        parse_report({**SEED_EXAMPLE, "total_recipients": True}, settings())


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("number_of_sms", 2**70, "number_of_sms"),
        ("number_of_sms", 256, "number_of_sms"),
        ("sms_cost", 1e12, "sms_cost"),
        ("sms_cost", 100.01, "sms_cost"),
    ],
)
def test_impossible_numbers_are_a_bad_answer(field: str, value: object, named: str) -> None:
    """One SMS has at most 255 parts; no message costs more than 100: such an answer is not
    believed (it is counted as bad_response and its numbers are never added)."""
    body = with_status("delivered")
    body["messages"][0][field] = value
    with pytest.raises(BadResponse, match=f"{named} is implausible"):
        parse_report(body, settings())


def test_the_largest_possible_numbers_are_believed() -> None:
    body = with_status("delivered")
    body["messages"][0].update({"number_of_sms": 255, "sms_cost": 100.0})
    [seen] = parse_report(body, settings()).observations
    assert (seen.segments, seen.cost) == (255, 100.0)


def test_implausible_recipient_count() -> None:
    with pytest.raises(BadResponse, match="total_recipients is implausible"):
        parse_report({**SEED_EXAMPLE, "total_recipients": 10**9}, settings())


@pytest.mark.parametrize("country", [None, 44, ""])
def test_no_country_is_other_when_counting_countries(country: object) -> None:
    body = with_status("delivered")
    body["messages"][0]["country"] = country
    [counted] = parse_report(body, settings(country_label=True)).observations
    assert counted.country == ""  # the tracker counts it as "other"
    [ignored] = parse_report(body, settings()).observations
    assert ignored.country is None  # not counting countries at all

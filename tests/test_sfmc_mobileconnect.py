"""sfmc_mobileconnect: code ranking, recipients, job status, 400s, legacy host, simulator."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest

from sms_delivery_exporter.api import (
    BadResponse,
    NumberHasher,
    RefInvalid,
    RefNotFound,
    Status,
    Throttled,
    TransientError,
)
from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.sfmc.standard_codes import CODES, classify
from sms_delivery_providers.sfmc_mobileconnect.provider import (
    MobileConnectProvider,
    MobileConnectRef,
    parse_deliveries,
)
from sms_delivery_providers.sfmc_mobileconnect.simulator import MobileConnectSimulator
from tests.conftest import FakeClock

Serve = Callable[..., Any]
Build = Callable[..., Any]
HASH = NumberHasher(b"test-key")

# The seed's example with its missing comma restored.
SEED_EXAMPLE: dict[str, Any] = {
    "message": "Test Delivery Receipt",
    "count": 1,
    "createDate": "2013-04-25T15:01:04.147",
    "completeDate": "2013-04-25T15:01:55.197",
    "status": "Finished",
    "tracking": [
        {
            "mobileNumber": "15555555510",
            "statusCode": "20",
            "message": "NA",
            "standardStatusCode": "3000",
            "description": "Message enroute",
        },
        {
            "mobileNumber": "15555555510",
            "statusCode": "200",
            "message": "Carrier Success",
            "standardStatusCode": "4000",
            "description": "Delivered to handset",
        },
        {
            "mobileNumber": "15555555510",
            "statusCode": "20",
            "message": "Message sent to carrier",
            "standardStatusCode": "3001",
            "description": "Message Sent to Carrier",
        },
        {
            "mobileNumber": "15555555510",
            "statusCode": "0",
            "message": "DELIVERED TO Air2Web",
            "standardStatusCode": "2000",
            "description": "Message was Delivered to Aggregator",
        },
    ],
}


def answer(
    codes: list[int], status: str = "Finished", number: str = "15555555510", **extra: Any
) -> dict[str, Any]:
    tracking = [{"mobileNumber": number, "standardStatusCode": str(code)} for code in codes]
    return {
        "count": 1,
        "createDate": "2013-04-25T15:01:04.147",
        "status": status,
        "tracking": tracking,
        **extra,
    }


class TestSeedExample:
    """The seed's answer: one recipient, delivered, although 4000 is not its last receipt."""

    def test_delivered(self) -> None:
        report = parse_deliveries(SEED_EXAMPLE, HASH)
        [seen] = report.observations
        assert (seen.status, seen.code) == (Status.DELIVERED, "4000")
        assert report.complete
        assert (
            seen.accepted_at is not None and seen.changed_at is None
        )  # latency is ours to observe

    def test_number_never_kept(self) -> None:
        [seen] = parse_deliveries(SEED_EXAMPLE, HASH).observations
        assert "5555" not in seen.key
        assert seen.key == HASH("+1 555 555 5510")  # the same number however written

    def test_seed_spelling_created_date(self) -> None:
        body = {**SEED_EXAMPLE}
        body["createdDate"] = body.pop("createDate")
        [seen] = parse_deliveries(body, HASH).observations
        assert seen.accepted_at is not None


class TestCodeTable:
    """Every documented standard code maps as PROVIDERS.md says."""

    @pytest.mark.parametrize(("code", "expected"), sorted(CODES.items()))
    def test_each_code(self, code: int, expected: tuple[Status, str | None]) -> None:
        assert classify(code) == expected

    @pytest.mark.parametrize(
        ("code", "status"),
        [
            (1100, Status.QUEUED),
            (2700, Status.REJECTED),
            (3500, Status.SENT),
            (4600, Status.UNDELIVERED),
        ],
    )
    def test_unlisted_codes_by_range(self, code: int, status: Status) -> None:
        found, reason = classify(code)
        assert found is status
        assert reason in (None, "other")


class TestRanking:
    """The highest code wins, with its two pitfalls handled deliberately."""

    def test_failure_after_delivery_wins(self) -> None:
        [seen] = parse_deliveries(answer([4000, 4504]), HASH).observations
        assert (seen.status, seen.reason) == (Status.UNDELIVERED, "unknown_subscriber")

    def test_carrier_rejection_outranks_delivery(self) -> None:
        [seen] = parse_deliveries(answer([4503, 4000]), HASH).observations
        assert (seen.status, seen.reason) == (Status.REJECTED, "carrier_rejected")

    def test_aggregator_failure_superseded_by_3000(self) -> None:
        [seen] = parse_deliveries(answer([2600, 3000], status="Started"), HASH).observations
        assert seen.status is Status.SENT

    def test_aggregator_failure_provisional_while_job_runs(self) -> None:
        [seen] = parse_deliveries(answer([1000, 2502], status="Started"), HASH).observations
        assert (seen.status, seen.reason) == (Status.SENT, None)

    def test_aggregator_failure_final_when_job_finished(self) -> None:
        [seen] = parse_deliveries(answer([1000, 2502]), HASH).observations
        assert (seen.status, seen.reason) == (Status.REJECTED, "invalid_destination")

    def test_send_service_failure_provisional(self) -> None:
        [seen] = parse_deliveries(answer([1000, 1501], status="Queuing"), HASH).observations
        assert seen.status is Status.QUEUED


class TestJob:
    """The request-level status describes the send job, not delivery."""

    def test_recipients_told_apart(self) -> None:
        body = answer([4000]) | {"count": 2}
        body["tracking"].append({"mobileNumber": "15555555511", "standardStatusCode": "4500"})
        report = parse_deliveries(body, HASH)
        assert sorted(o.status for o in report.observations) == [
            Status.DELIVERED,
            Status.UNDELIVERED,
        ]
        assert report.complete

    def test_incomplete_until_every_recipient_appears(self) -> None:
        assert not parse_deliveries(answer([4000]) | {"count": 3}, HASH).complete

    def test_job_error_without_receipts(self) -> None:
        report = parse_deliveries(answer([], status="Error") | {"count": 2}, HASH)
        assert [(o.status, o.reason) for o in report.observations] == [
            (Status.REJECTED, "job_error")
        ] * 2
        assert report.complete

    def test_finished_job_is_not_delivery(self) -> None:
        [seen] = parse_deliveries(answer([2000, 3001]), HASH).observations
        assert seen.status is Status.SENT

    @pytest.mark.parametrize(
        ("change", "match"),
        [
            ({"status": "Exploded"}, "unknown send status"),
            ({"count": "two"}, "count"),
            ({"tracking": [{"standardStatusCode": "4000"}]}, "mobileNumber"),
            ({"tracking": [{"mobileNumber": "1", "standardStatusCode": "n/a"}]}, "numeric"),
            ({"count": True}, "count"),
        ],
    )
    def test_malformed(self, change: dict[str, Any], match: str) -> None:
        with pytest.raises(BadResponse, match=match):
            parse_deliveries(answer([4000]) | change, HASH)


async def setup(
    serve: Serve,
    build: Build,
    *,
    legacy: bool = False,
    scenario: Scenario | None = None,
    clock: FakeClock | None = None,
) -> tuple[MobileConnectSimulator, Any]:
    import time

    simulator = MobileConnectSimulator(
        client_secret="s3cret", scenario=scenario, clock=clock or time.time
    )
    url = await serve(simulator.app())
    token_path = "/v1/requestToken" if legacy else "/v2/token"
    provider = build(
        MobileConnectProvider,
        auth_url=url + token_path,
        rest_url=url,
        legacy=legacy,
        client_id=simulator.auth.client_id,
        client_secret="s3cret",
    )
    return simulator, provider


def ref_of(send: Any) -> MobileConnectRef:
    return MobileConnectRef(message_id=send.message_id, token_id=send.token_id)


class TestAgainstSimulator:
    """The plugin and its simulator: recipients over time, the 400s, 429s, legacy mode."""

    async def test_recipients_reach_their_fates(
        self, serve: Serve, build_provider: Build, clock: FakeClock
    ) -> None:
        scenario = Scenario(
            delivered=0.5,
            undelivered=0.25,
            rejected=0.25,
            reasons={"expired": 1},
            rejected_reasons={"carrier_rejected": 1},
            seed=3,
        )
        simulator, provider = await setup(serve, build_provider, scenario=scenario, clock=clock)
        send = simulator.send(3)
        clock.advance(0.02)
        early = await provider.fetch_one(ref_of(send))
        assert {o.status for o in early.observations} <= {Status.QUEUED}
        clock.advance(max(m.stages[-1][0] for m in send.recipients) - clock.now + 1)
        report = await provider.fetch_one(ref_of(send))
        assert report.complete
        got = sorted((o.status.value, o.reason) for o in report.observations)
        want = sorted(
            (
                {"delivered": "delivered", "undelivered": "undelivered", "rejected": "rejected"}[
                    m.fate
                ],
                {"delivered": None, "undelivered": "expired", "rejected": "carrier_rejected"}[
                    m.fate
                ],
            )
            for m in send.recipients
        )
        assert got == want

    @pytest.mark.parametrize(
        ("case", "meaning"),
        [
            ("malformed message id", "message id is not valid"),
            ("malformed token id", "token id is not valid"),
            ("token of another client", "belongs to another client"),
            ("token of another message", "belongs to another message"),
        ],
    )
    async def test_documented_400s_are_permanent(
        self, serve: Serve, build_provider: Build, case: str, meaning: str
    ) -> None:
        simulator, provider = await setup(serve, build_provider)
        send = simulator.send(1)
        simulator.foreign_tokens.add("Foreign1")
        message_id, token_id = {
            "malformed message id": ("bad$id", send.token_id),
            "malformed token id": (send.message_id, "bad$token"),
            "token of another client": (send.message_id, "Foreign1"),
            "token of another message": ("OtherMsg9", send.token_id),
        }[case]
        # model_construct: the Ref model itself would refuse the malformed ids at intake.
        ref = MobileConnectRef.model_construct(message_id=message_id, token_id=token_id)
        with pytest.raises(RefInvalid, match=meaning) as raised:
            await provider.fetch_one(ref)
        assert token_id not in str(raised.value)
        assert message_id not in str(raised.value)

    async def test_unexpected_error_is_transient(
        self, serve: Serve, build_provider: Build, clock: FakeClock
    ) -> None:
        scenario = Scenario(delivered=1, undelivered=0, rejected=0)
        simulator, provider = await setup(serve, build_provider, scenario=scenario, clock=clock)
        simulator.unexpected_errors = 1
        send = simulator.send(2)
        clock.now = max(m.delivered_at or 0 for m in send.recipients) + 1
        with pytest.raises(TransientError, match="unexpected error"):
            await provider.fetch_one(ref_of(send))
        # The same ref asked again is answered in full: the 400 did not drop it.
        report = await provider.fetch_one(ref_of(send))
        assert [o.status for o in report.observations] == [Status.DELIVERED, Status.DELIVERED]
        assert report.complete

    async def test_unknown_token_not_found(self, serve: Serve, build_provider: Build) -> None:
        _, provider = await setup(serve, build_provider)
        with pytest.raises(RefNotFound):
            await provider.fetch_one(
                MobileConnectRef(message_id="MzA6Nzg6MA", token_id="Unknown123")
            )

    @pytest.mark.parametrize(
        ("scenario", "blocked"),
        [(Scenario(throttle_rate=1), False), (Scenario(blocked_rate=1), True)],
    )
    async def test_429(
        self, serve: Serve, build_provider: Build, scenario: Scenario, blocked: bool
    ) -> None:
        simulator, provider = await setup(serve, build_provider, scenario=scenario)
        with pytest.raises(Throttled) as raised:
            await provider.fetch_one(ref_of(simulator.send(1)))
        assert raised.value.blocked is blocked

    async def test_legacy_host_token_in_query_never_logged(
        self,
        serve: Serve,
        build_provider: Build,
        caplog: pytest.LogCaptureFixture,
        clock: FakeClock,
    ) -> None:
        scenario = Scenario(delivered=1, undelivered=0, rejected=0)
        simulator, provider = await setup(
            serve, build_provider, legacy=True, scenario=scenario, clock=clock
        )
        send = simulator.send(2)
        clock.now = max(m.delivered_at or 0 for m in send.recipients) + 1
        with caplog.at_level(logging.DEBUG):
            report = await provider.fetch_one(ref_of(send))
            simulator.auth.expire_all()
            again = await provider.fetch_one(ref_of(send))
        # Both recipients, delivered, read through the legacy host, before and after the 401.
        assert [o.status for o in report.observations] == [Status.DELIVERED, Status.DELIVERED]
        assert [o.key for o in again.observations] == [o.key for o in report.observations]
        assert len({o.key for o in report.observations}) == 2
        assert simulator.auth.legacy_token_calls == 2 and simulator.auth.token_calls == 0
        logged = "\n".join(
            f"{r.getMessage()} {r.__dict__}" for r in caplog.records if r.name != "aiohttp.access"
        )
        assert "access_token" not in logged
        assert not any(token in logged for token in simulator.auth.tokens)

    def test_legacy_defaults(self) -> None:
        settings = MobileConnectProvider.Settings.model_validate(
            {
                "provider": "sfmc_mobileconnect",
                "legacy": True,
                "client_id": "i",
                "client_secret": "s",
            }
        )
        assert settings.token_url() == "https://auth.exacttargetapis.com/v1/requestToken"
        assert settings.rest_base() == "https://www.exacttargetapis.com"
        assert settings.token_body() == {"clientId": "i", "clientSecret": "s"}

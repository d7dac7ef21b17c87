"""The namirial plugin's reading of the documented message object (seed 004)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sms_delivery_exporter.api import BadResponse, Status
from sms_delivery_providers.namirial.message import parse_message
from sms_delivery_providers.namirial.reasons import REASONS, reason_for
from sms_delivery_providers.namirial.simulator import REASON_TEXTS

# The seed's response example, verbatim.
SEED_EXAMPLE: dict[str, Any] = {
    "id": "011d9d6e-b5b9-4cb9-be13-2bc336a923ce",
    "providerAcceptanceAt": "2026-02-04T06:54:35Z",
    "statusChangedAt": "2026-02-04T06:54:55Z",
    "reference": {"service": "DIGITALSIGN", "action": "AUTH", "key": "EXT_KEY"},
    "channel": "SMS",
    "status": "DELIVERED",
    "provider": {
        "name": "PROVIDER1",
        "id": "bbe7a7b4-067b-484e-a55c-318f5716997e",
        "status": "delivered",
        "code": "0",
    },
    "sms": {"segments": 1},
}


def message(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(SEED_EXAMPLE)
    body.update(changes)
    return body


class TestStatuses:
    """Every documented status maps onto the canonical lifecycle."""

    @pytest.mark.parametrize(
        ("status", "canonical", "read"),
        [
            ("PROVIDER_ACCEPTANCE", Status.QUEUED, False),
            ("SENT", Status.SENT, False),
            ("DELIVERED", Status.DELIVERED, False),
            ("UNDELIVERED", Status.UNDELIVERED, False),
            ("REJECTED", Status.REJECTED, False),
            ("READ", Status.DELIVERED, True),
        ],
    )
    def test_documented_status(self, status: str, canonical: Status, read: bool) -> None:
        seen = parse_message(message(status=status, channel="RCS" if read else "SMS"))
        assert seen.status is canonical
        assert seen.read is read
        assert seen.provider_status == status

    def test_unknown_status_is_a_bad_response_naming_it(self) -> None:
        with pytest.raises(BadResponse, match="unknown message status 'LOST'"):
            parse_message(message(status="LOST"))

    def test_missing_status_is_a_bad_response(self) -> None:
        body = message()
        del body["status"]
        with pytest.raises(BadResponse, match="unknown message status"):
            parse_message(body)


class TestSeedExample:
    """The seed's example reads as a delivered SMS with the provider's clocks."""

    def test_fields(self) -> None:
        seen = parse_message(message())
        assert seen.status is Status.DELIVERED
        assert seen.channel == "sms"
        assert seen.segments == 1
        assert seen.code == "0"
        assert seen.reason is None
        assert seen.accepted_at is not None
        assert seen.changed_at is not None
        assert seen.changed_at - seen.accepted_at == 20.0

    def test_empty_reference_and_no_sms_block(self) -> None:
        body = message(reference={})
        del body["sms"]
        seen = parse_message(body)
        assert seen.segments is None

    def test_rcs_channel(self) -> None:
        assert parse_message(message(channel="RCS")).channel == "rcs"

    def test_unknown_channel_is_other(self) -> None:
        assert parse_message(message(channel="WHATSAPP")).channel == "other"

    def test_fractional_and_offset_timestamps(self) -> None:
        seen = parse_message(
            message(
                providerAcceptanceAt="2026-02-04T06:54:35.250Z",
                statusChangedAt="2026-02-04T07:54:55.750+01:00",
            )
        )
        assert seen.changed_at is not None and seen.accepted_at is not None
        assert seen.changed_at - seen.accepted_at == pytest.approx(20.5)

    @pytest.mark.parametrize("value", ["yesterday", "2026-02-04T06:54:35", 12345])
    def test_bad_timestamp_names_the_field(self, value: object) -> None:
        with pytest.raises(BadResponse, match="statusChangedAt"):
            parse_message(message(statusChangedAt=value))


class TestReasons:
    """Failure texts map onto the bounded, documented set."""

    def test_seed_example_reason(self) -> None:
        failed = message(
            status="UNDELIVERED",
            provider={
                "name": "P",
                "id": "x",
                "status": "undelivered",
                "code": "1",
                "message": "Number Blocked by Carrier",
            },
        )
        seen = parse_message(failed)
        assert seen.status is Status.UNDELIVERED
        assert seen.reason == "number_blocked"

    @pytest.mark.parametrize(
        ("texts", "reason"),
        [(texts, reason) for reason, all_texts in REASON_TEXTS.items() for texts in all_texts],
    )
    def test_every_text_the_simulator_writes(self, texts: str, reason: str) -> None:
        assert reason_for(texts) == reason

    @pytest.mark.parametrize(
        ("message_text", "status", "code", "reason"),
        [
            ("ABSENT SUBSCRIBER", "undeliv", "27", "unreachable"),
            (None, "EXPIRED", "3", "validity_expired"),
            (None, "rejected", "insufficient_balance", "insufficient_credit"),
            ("Destination number is invalid number", None, None, "invalid_number"),
            (None, "failed", "999", "other"),
        ],
    )
    def test_reason_from_message_status_or_code(
        self, message_text: str | None, status: str | None, code: str | None, reason: str
    ) -> None:
        assert reason_for(message_text, status, code) == reason

    def test_reasons_are_documented_and_bounded(self) -> None:
        """Every reason has a description, and every text the simulator serves for a reason
        (as downstream providers word it) is read back as that reason."""
        assert set(REASON_TEXTS) == {*REASONS, "other"}
        assert all(len(description) > 10 for description in REASONS.values())
        for reason, texts in REASON_TEXTS.items():
            for text in texts:
                assert reason_for(text, None, None) == reason, text

    def test_delivered_message_carries_no_reason(self) -> None:
        body = message(provider={"status": "delivered", "code": "0", "message": "blocked"})
        assert parse_message(body).reason is None


@pytest.mark.parametrize("segments", [True, -2, "1", 1.5])
def test_unusable_segments_are_left_out(segments: object) -> None:
    assert parse_message(message(sms={"segments": segments})).segments is None

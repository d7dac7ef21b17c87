"""An SFMC MobileConnect deliveries API on loopback, modern and legacy (ExactTarget) at once.

Each send has a token id, a job status (New, Queuing, Started, then
Finished or Error) and one recipient per number, whose standard status codes
arrive over time in carrier order (the 2000 receipt sometimes last, as in
the seed). Errors are the documented 400 texts; 429s and 5xx come from the scenario.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sms_delivery_exporter.testing import (
    Clock,
    Scenario,
    SimMessage,
    read_json_body,
    truth,
)
from sms_delivery_providers.sfmc.simulator_auth import SfmcSimulatorBase, refusal
from sms_delivery_providers.sfmc.timestamps import format_cst

UNDELIVERED_CODES = {
    "undeliverable": 4500,
    "expired": 4501,
    "deleted": 4502,
    "unknown_subscriber": 4504,
    "invalid_destination": 4505,
}
REJECTED_CODES = {
    "carrier_rejected": 4503,
    "invalid_destination": 2502,
    "aggregator_failure": 2500,
    "aggregator_unknown_error": 2501,
    "aggregator_throttled": 2600,
    "aggregator_socket_error": 2601,
    "validation_error": 1501,
    "queue_failure": 1500,
}
DESCRIPTIONS = {
    1000: "Queued to SFMC send service",
    2000: "Message was Delivered to Aggregator",
    3000: "Message enroute",
    3001: "Message Sent to Carrier",
    4000: "Delivered to handset",
}
UNKNOWN_UNDELIVERED = 4599
UNKNOWN_REJECTED = 2599
"""Codes outside the published table, for reasons the scenario names but the API has no code for."""
UNEXPECTED = "An unexpected error occurred, please contact Customer Support with reference id 8812."
MESSAGE_IDS = ("MzA6Nzg6MA", "MTI6MTE0OjA", "NDU6Nzg6MQ")
_ALNUM = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")

# Marketing sends to stored subscriber lists, as a healthy account sees them: lists
# hold stale numbers, so about 95.5% delivered, more unknown subscribers than
# transactional traffic; a few refusals by carriers or the aggregator; delivery
# reports median 5 s, p95 about 20 s; a rare 429 or 5xx.
DEMO_SCENARIO = Scenario(
    delivered=0.955,
    undelivered=0.033,
    rejected=0.012,
    reasons={"unknown_subscriber": 3, "undeliverable": 2, "expired": 1},
    rejected_reasons={"invalid_destination": 2, "carrier_rejected": 1, "aggregator_throttled": 1},
    queue_seconds=0.5,
    latency_median=5.0,
    latency_sigma=0.8,
    throttle_rate=0.005,
    error_rate=0.002,
)


@dataclass
class Send:
    """One MessageContact send."""

    message_id: str
    token_id: str
    created_at: float
    recipients: list[SimMessage]
    job_error: bool = False

    def job_status(self, now: float) -> str:
        age = now - self.created_at
        if age < 0.05:
            return "New"
        if age < 0.1:
            return "Queuing"
        if self.job_error:
            return "Error"
        last = max(m.stages[-1][0] for m in self.recipients)
        return "Finished" if now >= last and self.recipients[0].fate != "stuck" else "Started"


def code_entries(message: SimMessage) -> list[tuple[float, int]]:
    """(time, standardStatusCode) of every receipt a recipient will get."""
    entries: list[tuple[float, int]] = []
    for when, stage in message.stages:
        if stage == "queued":
            entries.append((when, 1000))
        elif stage == "sent":
            entries += [(when, 2000), (when + 0.01, 3000), (when + 0.02, 3001)]
        elif stage == "delivered":
            entries.append((when, 4000))
        elif stage == "undelivered":
            entries.append((when, UNDELIVERED_CODES.get(message.reason or "", UNKNOWN_UNDELIVERED)))
        elif stage == "rejected":
            code = REJECTED_CODES.get(message.reason or "", UNKNOWN_REJECTED)
            if code >= 4000:  # a carrier refusal comes after the hand-off
                entries += [(when - 0.02, 2000), (when - 0.01, 3000)]
            entries.append((when, code))
    return entries


def api_reason(message: SimMessage) -> str | None:
    """The reason the API's codes can convey: a reason without a code of its own is 'other'."""
    if message.reason is None or message.reason == "job_error":
        return message.reason
    codes = REJECTED_CODES if message.fate == "rejected" else UNDELIVERED_CODES
    return message.reason if message.reason in codes else "other"


class MobileConnectSimulator(SfmcSimulatorBase):
    """The simulated API and everything it knows."""

    def __init__(
        self,
        *,
        client_id: str = "exporter-client",
        client_secret: str | None = None,
        scenario: Scenario | None = None,
        clock: Clock = time.time,
        max_recipients: int = 3,
    ) -> None:
        super().__init__(
            scenario or Scenario(reasons={"undeliverable": 1}), clock, client_id, client_secret
        )
        self.max_recipients = max_recipients
        self.sends: dict[str, Send] = {}
        self.foreign_tokens: set[str] = set()
        self.unexpected_errors = 0

    def app(self) -> web.Application:
        app = web.Application()
        self.auth.add_routes(app)
        app.router.add_get(
            "/sms/v1/messageContact/{message_id}/deliveries/{token_id}", self._deliveries
        )
        app.router.add_post("/_sim/messages", self._create)
        self.add_control_routes(app)
        return app

    def send(self, recipients: int | None = None, *, job_error: bool = False) -> Send:
        rng = self.factory.rng
        count = recipients if recipients is not None else rng.randint(1, self.max_recipients)
        members = [self.factory.create(channel="sms") for _ in range(count)]
        created = members[0].accepted_at
        if job_error:
            for member in members:
                member.stages = [(created, "queued"), (created + 0.3, "rejected")]
                member.reason = "job_error"
        token_id = "".join(rng.choice(sorted(_ALNUM)) for _ in range(25))
        send = Send(rng.choice(MESSAGE_IDS), token_id, created, members, job_error)
        self.sends[token_id] = send
        return send

    def demo_send(self) -> dict[str, str]:
        send = self.send()
        return {"message_id": send.message_id, "token_id": send.token_id}

    def truth(self) -> dict[str, Any]:
        members = [m for send in self.sends.values() for m in send.recipients]
        return truth(members, self.clock(), segments=False, reason_of=api_reason)

    def render(self, send: Send) -> dict[str, Any]:
        now = self.clock()
        tracking: list[dict[str, Any]] = []
        if not send.job_error:
            for member in send.recipients:
                entries = [(when, code) for when, code in code_entries(member) if when <= now]
                # Carriers answer out of order: the aggregator receipt sometimes comes last.
                if int(member.id[-1], 16) % 2:
                    entries.sort(key=lambda entry: entry[1] == 2000)
                tracking += [self._entry(member, code) for _, code in entries]
        complete = send.job_status(now) in ("Finished", "Error")
        return {
            "message": "Your code is 123456",
            "count": len(send.recipients),
            "createDate": format_cst(send.created_at),
            "completeDate": format_cst(now) if complete else None,
            "status": send.job_status(now),
            "tracking": tracking,
        }

    @staticmethod
    def _entry(member: SimMessage, code: int) -> dict[str, Any]:
        return {
            "mobileNumber": member.number.lstrip("+"),
            "statusCode": str(code // 100),
            "message": "NA",
            "standardStatusCode": str(code),
            "description": DESCRIPTIONS.get(code, member.reason or "Failed"),
        }

    async def _deliveries(self, request: web.Request) -> web.Response:
        self.requests += 1
        refused = await refusal(request, self.auth, self.faults)
        if refused is not None:
            return refused
        message_id, token_id = request.match_info["message_id"], request.match_info["token_id"]
        if self.unexpected_errors > 0:
            self.unexpected_errors -= 1
            return _errors(UNEXPECTED)
        if not set(message_id) <= _ALNUM:
            return _errors(f"Message id {message_id} is not valid.")
        if not set(token_id) <= _ALNUM:
            return _errors(f"Token id {token_id} is not valid.")
        if token_id in self.foreign_tokens:
            return _errors(f"Token id {token_id} is not valid for this client.")
        send = self.sends.get(token_id)
        if send is None:
            return web.json_response({"message": "Not Found", "errorcode": 404}, status=404)
        if send.message_id != message_id:
            return _errors(f"TokenId {token_id} is not valid for MessageId {message_id}.")
        return web.json_response(self.render(send))

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        send = self.send(body.get("recipients"))
        return web.json_response({"messageId": send.message_id, "tokenId": send.token_id})


def _errors(text: str) -> web.Response:
    return web.json_response({"errors": [text]}, status=400)


def demo_simulator() -> MobileConnectSimulator:
    """The simulator ``sms-delivery-exporter demo`` runs (entry point ``sfmc_mobileconnect``)."""
    return MobileConnectSimulator(scenario=DEMO_SCENARIO)

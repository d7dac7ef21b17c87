"""A D7 Networks message-log API on loopback.

A request fans out to one to three recipients, who appear in ``messages[]``
one after another (``total_recipients`` says how many will), each with its
status, parts, cost and country. Errors in D7's own bodies: 401 with
``detail.code``, 404, 422 for a malformed request id, and the scenario's 429s and 5xx.
Given a report URL (:meth:`push_to`), it posts a delivery report per status
change of each recipient, with the push token in the URL, as JSON or as form
data (URL-encoded or multipart), as D7 does.
"""

from __future__ import annotations

import json
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from sms_delivery_exporter.testing import (
    Clock,
    FaultAnswers,
    Pusher,
    Scenario,
    SimMessage,
    SimulatorBase,
    read_json_body,
    truth,
)

COUNTRIES = {"971": "AE", "44": "GB", "39": "IT", "91": "IN", "1": "US"}
COST_PER_PART = 0.0004
APPEAR_EVERY = 0.2
"""Seconds between the appearances of a request's recipients in the log."""
# International wholesale routes, as a healthy account sees them: about 96%
# delivered, unreachable handsets and carrier failures most of the rest; a few messages
# filtered as spam and, rarely, one refused for credit (an automatic top-up outrun by a
# burst); delivery reports a little slower than domestic ones (median 6 s, p95 about
# 25 s); a rare 429 or 5xx.
DEMO_SCENARIO = Scenario(
    delivered=0.962,
    undelivered=0.028,
    rejected=0.01,
    reasons={"not_reachable": 3, "delivery_failed": 2},
    rejected_reasons={"spam_content": 3, "insufficient_credit": 1},
    queue_seconds=0.5,
    latency_median=6.0,
    latency_sigma=0.8,
    throttle_rate=0.005,
    error_rate=0.003,
)
FAULT_ANSWERS = FaultAnswers(
    throttle=(429, {"detail": {"code": "TOO_MANY_REQUESTS"}}),
    error=(500, {"detail": "Internal Server Error"}),
    malformed='{"request_id": "',
)


@dataclass
class Request:
    request_id: str
    created_at: float
    recipients: list[SimMessage]


def api_status(message: SimMessage, stage: str) -> str:
    if stage == "queued":
        return "scheduled"
    if stage in ("sent", "delivered"):
        return stage
    if stage == "undelivered":
        if message.reason == "not_reachable":
            return "not_reachable"
        # Both spellings occur: the older documents say "undelivered".
        return "undelivered" if int(message.id[-1], 16) % 2 else "un_delivered"
    return "insufficient_credit" if message.reason == "insufficient_credit" else "spam_content"


def api_reason(message: SimMessage) -> str | None:
    """The reason D7's statuses can convey for the message's fate."""
    if message.fate == "undelivered":
        return "not_reachable" if message.reason == "not_reachable" else "delivery_failed"
    if message.fate == "rejected":
        return "insufficient_credit" if message.reason == "insufficient_credit" else "spam_content"
    return None


class D7Simulator(SimulatorBase):
    """The simulated API and everything it knows."""

    def __init__(
        self,
        *,
        api_token: str | None = None,
        scenario: Scenario | None = None,
        clock: Clock = time.time,
        max_recipients: int = 3,
    ) -> None:
        super().__init__(scenario or Scenario(reasons={"not_reachable": 1}), clock)
        self.api_token = api_token or secrets.token_urlsafe(24)
        self.max_recipients = max_recipients
        self.requests_by_id: dict[str, Request] = {}
        self.out_of_credit = False
        """When set, every call is answered 402 as for an account without credit."""
        self.balance = 99.99
        """What ``GET /messages/v1/balance`` answers (0 while out of credit)."""
        self.push_token = secrets.token_urlsafe(24)
        self.pusher = Pusher(self.factory, render=self._report_event, encode=_report_call)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/report/v1/message-log/{request_id}", self._report)
        app.router.add_get("/messages/v1/balance", self._balance)
        app.router.add_post("/messages/v1/send", self._send)
        app.router.add_post("/_sim/messages", self._create)
        self.add_control_routes(app)
        app.cleanup_ctx.append(self.pusher.context)
        return app

    def send(self, recipients: int | None = None) -> Request:
        rng = self.factory.rng
        count = recipients if recipients is not None else rng.randint(1, self.max_recipients)
        members = []
        for index in range(count):
            prefix = rng.choice(sorted(COUNTRIES))
            member = self.factory.create(
                channel="sms", number=f"+{prefix}5{rng.randrange(10**8):08d}"
            )
            # Recipients show up in the log one after another.
            member.stages = [(when + index * APPEAR_EVERY, stage) for when, stage in member.stages]
            unknown_country = rng.random() < self.factory.scenario.no_country_share
            member.details = {
                "country": None if unknown_country else COUNTRIES[prefix],
                "cost": member.segments * COST_PER_PART,
            }
            members.append(member)
        request = Request(
            str(uuid.UUID(int=rng.getrandbits(128), version=4)), self.clock(), members
        )
        self.requests_by_id[request.request_id] = request
        for member in members:
            member.details["request_id"] = request.request_id
            self.pusher.schedule(member)
        return request

    def demo_send(self) -> dict[str, str]:
        return {"request_id": self.send().request_id}

    def account_options(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "api_token": self.api_token,
            "currency": "EUR",
            "country_label": True,
            "rate_limit": 50,
            "concurrency": 4,
            "schedule": {"first_poll": "1s", "initial_interval": "1s", "max_interval": "10s"},
        }

    def push_options(self) -> dict[str, Any]:
        return {"token": self.push_token}

    def push_to(self, url: str) -> None:
        self.pusher.url = f"{url}?token={self.push_token}"

    def _report_event(self, member: SimMessage, stage: str, when: float) -> dict[str, Any] | None:
        """The delivery report of one status change of a recipient (none while scheduled)."""
        if stage in ("queued", "read"):
            return None
        return {
            "request_id": member.details["request_id"],
            "msg_id": member.id,
            "recipient": member.number,
            "originator": "SMSInfo",
            "status": api_status(member, stage),
        }

    def truth(self) -> dict[str, Any]:
        members = [m for request in self.requests_by_id.values() for m in request.recipients]
        return truth(members, self.clock(), reason_of=api_reason)

    def render(self, request: Request) -> dict[str, Any]:
        now = self.clock()
        # Some answers carry impossible numbers: the exporter must not count them.
        absurd = self.factory.rng.random() < self.factory.scenario.absurd_rate
        if absurd:
            self.faults.served["absurd"] += 1
        messages = []
        for member in request.recipients:
            if member.stages[0][0] > now:
                continue
            stage, _ = member.stage_at(now)
            messages.append(
                {
                    "msg_id": member.id,
                    "country": member.details["country"],
                    "recipient": member.number,
                    "status": api_status(member, stage),
                    "number_of_sms": 2**70 if absurd else member.segments,
                    "sms_cost": member.details["cost"],
                    "schedule_time": None,
                }
            )
        return {
            "request_id": request.request_id,
            "total_recipients": len(request.recipients),
            "channel": "sms",
            "messages": messages,
        }

    async def _refusal(self, request: web.Request) -> web.Response | None:
        """Auth, then the scenario's faults, in D7's own bodies; None to proceed."""
        self.requests += 1
        if request.headers.get("Authorization") != f"Bearer {self.api_token}":
            return web.json_response(
                {
                    "detail": {
                        "code": "ACCESS_TOKEN_SIGNATURE_VERIFICATION_FAILED",
                        "message": "It looks like your requested access token is invalid.",
                    }
                },
                status=401,
            )
        return await self.faults.answer(FAULT_ANSWERS)

    async def _balance(self, request: web.Request) -> web.Response:
        refused = await self._refusal(request)
        if refused is not None:
            return refused
        return web.json_response({"balance": 0.0 if self.out_of_credit else self.balance})

    async def _report(self, request: web.Request) -> web.Response:
        refused = await self._refusal(request)
        if refused is not None:
            return refused
        if self.out_of_credit:
            return web.json_response(
                {"detail": {"code": "INSUFFICIENT_CREDIT", "message": "Insufficient credit."}},
                status=402,
            )
        request_id = request.match_info["request_id"]
        try:
            uuid.UUID(request_id)
        except ValueError:
            return web.json_response(
                {
                    "detail": [
                        {
                            "loc": ["path", "request_id"],
                            "msg": "value is not a valid uuid",
                            "type": "type_error.uuid",
                        }
                    ]
                },
                status=422,
            )
        found = self.requests_by_id.get(request_id)
        if found is None:
            return web.json_response(
                {"detail": {"code": "NOT_FOUND", "message": "Not Found"}}, status=404
            )
        return web.json_response(self.render(found))

    async def _send(self, request: web.Request) -> web.Response:
        """The send API: one request for the recipients of the first message."""
        refused = await self._refusal(request)
        if refused is not None:
            return refused
        if self.out_of_credit:
            return web.json_response(
                {"detail": {"code": "INSUFFICIENT_CREDIT", "message": "Insufficient credit."}},
                status=402,
            )
        body = await read_json_body(request)
        messages = body.get("messages") if isinstance(body, dict) else None
        first = messages[0] if isinstance(messages, list) and messages else None
        recipients = first.get("recipients") if isinstance(first, dict) else None
        if not isinstance(first, dict) or not isinstance(recipients, list) or not recipients:
            return web.json_response(
                {
                    "detail": [
                        {"loc": ["body", "messages"], "msg": "field required", "type": "missing"}
                    ]
                },
                status=422,
            )
        sent = self.send(len(recipients))
        for member, number in zip(sent.recipients, recipients, strict=True):
            member.number = str(number)
        created = datetime.fromtimestamp(sent.created_at, UTC).isoformat().replace("+00:00", "Z")
        return web.json_response(
            {"request_id": sent.request_id, "status": "accepted", "created_at": created}
        )

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        return web.json_response(
            {"request_id": self.send(body.get("recipients")).request_id, "status": "accepted"}
        )


def _report_call(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """One report per call: as JSON, or as form data (URL-encoded or multipart), by msg_id."""
    [report] = events
    kind = int(str(report["msg_id"])[-1], 16) % 3
    if kind == 0:
        return json.dumps(report).encode(), {"Content-Type": "application/json"}
    if kind == 1:
        body = urlencode(report).encode()
        return body, {"Content-Type": "application/x-www-form-urlencoded"}
    boundary = "d7-report-" + str(report["msg_id"])[:8]
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in report.items()
    ]
    body = ("".join(parts) + f"--{boundary}--\r\n").encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


def demo_simulator() -> D7Simulator:
    """The simulator ``sms-delivery-exporter demo`` runs (entry point ``d7``)."""
    return D7Simulator(scenario=DEMO_SCENARIO)

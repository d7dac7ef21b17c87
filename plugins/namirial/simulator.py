"""A Namirial status API on loopback, for tests and the demo.

Serves the three documented endpoints with ``X-Api-Key`` (403 otherwise),
404 for unknown ids, and the scenario's 429s, 5xx, broken JSON and slow
answers. The list endpoints answer newest first, ``count`` capped at 100,
``sendDate`` exclusive, times in whole seconds. The send API
(``POST /api/Services/send``, Basic auth) creates messages, or answers
HTTP 500 ``{code, message}`` for a bad number or text and for the codes
queued in :attr:`NamirialSimulator.send_errors`. Control endpoints under
``/_sim/`` create messages, swap the scenario and report the ground truth.
Given a webhook URL (:meth:`push_to`), it posts a ``STATUS_UPDATE`` for each
status change but the acceptance, with the push token in the URL, as
Namirial's per-message webhooks do.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

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

# Domestic A2P traffic through an Italian aggregator, as a healthy account sees it:
# about 97.5% delivered; absent or unknown handsets are most failures, 1% of the
# numbers are malformed or filtered; delivery reports within seconds (median 4 s,
# p95 about 15 s); a third sent as RCS, most of those read within minutes; a rare
# 429 or 5xx.
DEMO_SCENARIO = Scenario(
    delivered=0.975,
    undelivered=0.015,
    rejected=0.01,
    reasons={"unreachable": 5, "unknown_subscriber": 3, "number_blocked": 1, "validity_expired": 1},
    rejected_reasons={"invalid_number": 3, "spam": 1},
    queue_seconds=0.5,
    latency_median=4.0,
    latency_sigma=0.8,
    rcs_share=0.3,
    read_share=0.6,
    read_delay=60.0,
    throttle_rate=0.005,
    error_rate=0.002,
)
# Namirial has no separate 'account blocked' answer: a blocked fault is a 429.
FAULT_ANSWERS = FaultAnswers(
    throttle=(429, {"message": "Too Many Requests"}),
    error=(503, {"message": "Internal Server Error"}),
    malformed='{"message": {"id": "',
)

_STAGES = {
    "queued": "PROVIDER_ACCEPTANCE",
    "sent": "SENT",
    "delivered": "DELIVERED",
    "undelivered": "UNDELIVERED",
    "rejected": "REJECTED",
    "read": "READ",
}
# What downstream providers write for each reason; the plugin must classify all of them.
REASON_TEXTS: dict[str, tuple[str, ...]] = {
    "number_blocked": ("Number Blocked by Carrier", "Destination blacklisted"),
    "unknown_subscriber": ("Unknown subscriber", "Number not assigned"),
    "unreachable": ("Absent subscriber", "Handset unreachable"),
    "invalid_number": ("Invalid destination number",),
    "spam": ("Message filtered as spam",),
    "insufficient_credit": ("Insufficient credit",),
    "validity_expired": ("Validity period expired",),
    "carrier_error": ("Carrier error",),
    "other": ("Generic failure 0x42",),
}


class NamirialSimulator(SimulatorBase):
    """The simulated API and everything it knows."""

    def __init__(
        self,
        *,
        api_key: str,
        scenario: Scenario | None = None,
        clock: Clock = time.time,
        log_requests: bool = True,
    ) -> None:
        super().__init__(scenario or Scenario(), clock)
        self.api_key = api_key
        self.messages: dict[str, SimMessage] = {}
        self.log_requests = log_requests
        self.request_log: list[tuple[float, int]] = []
        """(time, HTTP status) of every status request by id, for tests of pacing and pauses."""
        self.list_requests = 0
        """Requests to the list endpoints (by reference key or phone number)."""
        self.send_credentials = ("canary", "canary-password")
        """(user, password) of the send API's Basic auth."""
        self.send_errors: list[int] = []
        """Error codes the next sends answer with, one each, in order (then they succeed)."""
        self.send_requests = 0
        self.demo_reference = ""
        """The reference key of the demo's messages (a key discovery may list)."""
        self.list_broken = False
        """When set, the list endpoints answer 200 with a body that has no messages list."""
        self.push_token = secrets.token_urlsafe(24)
        self.pusher = Pusher(self.factory, render=self._webhook, encode=_webhook_call)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/messagestatus/phonenumber/{number}", self._by_number)
        app.router.add_get("/api/messagestatus/reference/{key}", self._by_reference)
        app.router.add_get("/api/messagestatus/{id}", self._by_id)
        app.router.add_post("/api/Services/send", self._send)
        app.router.add_post("/_sim/messages", self._create)
        self.add_control_routes(app)
        app.cleanup_ctx.append(self.pusher.context)
        return app

    def send(self, count: int = 1, **options: Any) -> list[SimMessage]:
        """Create messages as the send API would, returning them."""
        created = [self.factory.create(**options) for _ in range(count)]
        for message in created:
            self.messages[message.id] = message
            self.pusher.schedule(message)
        return created

    def demo_send(self) -> dict[str, str]:
        return {"id": self.send(1, reference=self.demo_reference)[0].id}

    def account_options(self, base_url: str) -> dict[str, Any]:
        return {
            "base_url": base_url,
            "api_key": self.api_key,
            "rate_limit": 50,
            "concurrency": 8,
            "schedule": {"first_poll": "1s", "initial_interval": "1s", "max_interval": "10s"},
        }

    def push_options(self) -> dict[str, Any]:
        return {"token": self.push_token}

    def push_to(self, url: str) -> None:
        self.pusher.url = f"{url}?token={self.push_token}"

    def _webhook(self, message: SimMessage, stage: str, when: float) -> dict[str, Any] | None:
        """The STATUS_UPDATE of one status change (none for the acceptance)."""
        if stage == "queued":
            return None
        return {
            "id": str(uuid.UUID(int=self.factory.rng.getrandbits(128), version=4)),
            "webhookConfigurationId": "sim-webhook",
            "type": "STATUS_UPDATE",
            "createdAt": datetime.fromtimestamp(when, UTC).isoformat(timespec="milliseconds"),
            "message": self.render(message, at=when),
        }

    def render(self, message: SimMessage, at: float | None = None) -> dict[str, Any]:
        """The ``message`` object as Namirial returns it now (or at a time)."""
        stage, changed_at = message.stage_at(self.clock() if at is None else at)
        provider: dict[str, Any] = {
            "name": "PROVIDER1",
            "id": message.id[::-1],
            "status": stage,
            "code": "0" if stage not in ("undelivered", "rejected") else "1",
        }
        if stage in ("undelivered", "rejected"):
            texts = REASON_TEXTS[message.reason or "other"]
            provider["message"] = texts[int(message.id[:8], 16) % len(texts)]
        return {
            "id": message.id,
            "providerAcceptanceAt": _iso(message.accepted_at),
            "statusChangedAt": _iso(changed_at),
            "reference": {"service": "DEMO", "action": "SEND", "key": message.reference}
            if message.reference
            else {},
            "channel": message.channel.upper(),
            "status": _STAGES[stage],
            "provider": provider,
            "sms": {"segments": message.segments},
        }

    async def _guard(self, request: web.Request, *, log: bool = True) -> web.Response | None:
        response = await self._refusal(request)
        self.requests += 1
        if log and self.log_requests:
            self.request_log.append((self.clock(), 200 if response is None else response.status))
        return response

    async def _refusal(self, request: web.Request) -> web.Response | None:
        """Auth first, then the scenario's faults; None when the request may proceed."""
        if request.headers.get("X-Api-Key") != self.api_key:
            return web.json_response({"message": "Forbidden"}, status=403)
        return await self.faults.answer(FAULT_ANSWERS)

    async def _by_id(self, request: web.Request) -> web.Response:
        refused = await self._guard(request)
        if refused is not None:
            return refused
        message = self.find(request.match_info["id"].lower())
        if message is None:
            return web.json_response({"message": "Not Found"}, status=404)
        return web.json_response({"message": self.render(message)})

    def find(self, message_id: str) -> SimMessage | None:
        """The message with this id, if it was sent."""
        return self.messages.get(message_id)

    async def _by_number(self, request: web.Request) -> web.Response:
        number = request.match_info["number"]
        return await self._listing(request, lambda m: m.number == number)

    async def _by_reference(self, request: web.Request) -> web.Response:
        key = request.match_info["key"]
        return await self._listing(request, lambda m: m.reference == key)

    async def _listing(self, request: web.Request, match: Any) -> web.Response:
        self.list_requests += 1
        refused = await self._guard(request, log=False)
        if refused is not None:
            return refused
        if self.list_broken:
            return web.json_response({"messages": {"error": "changed"}})
        try:
            count = min(max(int(request.query.get("count", "50")), 1), 100)
            before = request.query.get("sendDate")
            cutoff = datetime.fromisoformat(before).timestamp() if before else self.clock()
        except ValueError:
            return web.json_response({"message": "Bad Request"}, status=400)
        found = sorted(
            (m for m in self.messages.values() if match(m) and m.accepted_at < cutoff),
            key=lambda m: m.accepted_at,
            reverse=True,
        )[:count]
        return web.json_response({"messages": [{"message": self.render(m)} for m in found]})

    async def _send(self, request: web.Request) -> web.Response:
        """The send API: Basic auth, then the documented validations, then a message."""
        self.send_requests += 1
        user, password = self.send_credentials
        expected = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return _send_error(63, "Authentication error")
        body = await read_json_body(request)
        destination = body.get("destination") if isinstance(body, dict) else None
        if not isinstance(destination, str) or not _E164.fullmatch(destination):
            return _send_error(56, "Invalid number format")
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return _send_error(66, "Empty text")
        reference = body.get("reference")
        if not isinstance(reference, dict) or not reference.get("service"):
            return _send_error(59, "Invalid reference service")
        if self.send_errors:
            code = self.send_errors.pop(0)
            return _send_error(code, _SEND_ERROR_TEXTS.get(code, "Error"))
        key = reference.get("key")
        message = self.send(1, number=destination, reference=key if isinstance(key, str) else "")
        return web.json_response(
            {"message": "0: Accepted for delivery", "provider": "PROVIDER1", "id": message[0].id}
        )

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        count = int(body.get("count", 1))
        options = {key: body[key] for key in ("channel", "number", "reference") if key in body}
        created = self.send(count, **options)
        return web.json_response({"ids": [m.id for m in created]})

    def truth(self) -> dict[str, Any]:
        return truth(list(self.messages.values()), self.clock())


_E164 = re.compile(r"^\+[1-9]\d{6,14}$")
_SEND_ERROR_TEXTS = {
    8: "Wrong number",
    56: "Invalid number format",
    59: "Invalid reference service",
    60: "Anti-flooding block",
    61: "Watchlist block",
    63: "Authentication error",
    64: "Provider unavailable",
    66: "Empty text",
    74: "URL not allowed",
}


def _send_error(code: int, message: str) -> web.Response:
    """Namirial's send API refuses with HTTP 500 and ``{code, message, details}``."""
    return web.json_response({"code": code, "message": message, "details": None}, status=500)


def _webhook_call(events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
    """Namirial posts one event per call."""
    [event] = events
    return json.dumps(event).encode(), {"Content-Type": "application/json"}


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def demo_simulator() -> NamirialSimulator:
    """The simulator ``sms-delivery-exporter demo`` runs (entry point ``namirial``)."""
    return NamirialSimulator(api_key=secrets.token_urlsafe(16), scenario=DEMO_SCENARIO)

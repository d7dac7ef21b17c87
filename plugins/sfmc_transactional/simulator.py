"""An SFMC transactional SMS status API on loopback, with its token endpoint.

``GET /messaging/v1/sms/messages/{messageKey}`` answers SMSQueued, then
SMSSent (for messages the carrier will deliver or fail: this API cannot
tell) or SMSNotSent with a statusCode, with ``info`` nested for some
messages and at top level for others, and CST timestamps.
``GET /messaging/v1/sms/messages/?type=notSent&$pageSize=N&lastEventId=ID``
is the feed of not-sent events after ``ID``, oldest first, each with its
``eventID``, and ``lastEventID`` where the next page starts. Given a callback
URL (:meth:`push_to`), it posts ENS events (SmsSent, SmsTransient,
SmsDelivered, SmsBounced, SmsNotSent) in signed batches, with the vendor's
quirks (``Info`` capitalised, numbers as strings, a delivery labelled
SmsTransient), and posts a lost batch again later, as ENS retries.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from aiohttp import web

from sms_delivery_exporter.testing import (
    Clock,
    Pusher,
    Scenario,
    SimMessage,
    read_json_body,
    truth,
)
from sms_delivery_providers.sfmc.simulator_auth import SfmcSimulatorBase, refusal
from sms_delivery_providers.sfmc.timestamps import format_cst
from sms_delivery_providers.sfmc_transactional.reasons import CODES, MESSAGES

_CODE_OF = {reason: code for code, reason in CODES.items()}
_EVENTS = {"queued": "SMSQueued", "rejected": "SMSNotSent"}

BOUNCE_CODES = {
    "undeliverable": 4500,
    "expired": 4501,
    "deleted": 4502,
    "unknown_subscriber": 4504,
    "invalid_destination": 4505,
}
# One-time codes and notifications, as a healthy account sees them: SFMC refuses about
# 1.5% of sends (opted-out, unknown or held subscribers), carriers bounce about 1% (which
# only ENS tells); a rare 429 or 5xx.
DEMO_SCENARIO = Scenario(
    delivered=0.975,
    undelivered=0.01,
    rejected=0.015,
    reasons={"undeliverable": 2, "unknown_subscriber": 1, "expired": 1},
    rejected_reasons={"unsubscribed": 3, "address_not_found": 2, "held": 1},
    queue_seconds=0.5,
    latency_median=4.0,
    latency_sigma=0.8,
    throttle_rate=0.005,
    error_rate=0.002,
)


def api_fate(message: SimMessage) -> str:
    """What this API can show: it never learns of delivery, only that the SMS was sent."""
    return "sent" if message.fate in ("delivered", "undelivered") else message.fate


def ens_reason(message: SimMessage) -> str | None:
    """The reason ENS conveys: a bounce's standard code, or a not-sent's statusCode."""
    if message.fate == "undelivered":
        return message.reason if message.reason in BOUNCE_CODES else "undeliverable"
    return message.reason


class TransactionalSimulator(SfmcSimulatorBase):
    """The simulated API and everything it knows."""

    def __init__(
        self,
        *,
        client_id: str = "exporter-client",
        client_secret: str | None = None,
        scenario: Scenario | None = None,
        clock: Clock = time.time,
    ) -> None:
        super().__init__(
            scenario or Scenario(reasons={"unsubscribed": 1}), clock, client_id, client_secret
        )
        self.messages: dict[str, SimMessage] = {}
        self.not_sent_events: list[str] = []
        """messageKeys in the order their not-sent event happened: event ID = index + 1."""
        self.definition_key = "canary-definition"
        """The one active send definition the send API accepts."""
        self.refuse_recipients = False
        """When set, sends are answered 202 with an errorcode for the recipient."""
        self.feed_positions: list[int] = []
        """The lastEventId of every read of the feed, in order."""
        self.signature_key = secrets.token_urlsafe(24)
        # ENS posts up to 1,000 events per call and retries what it could not deliver.
        self.pusher = Pusher(
            self.factory,
            render=self._ens_event,
            encode=self._ens_call,
            batch=100,
            redeliver_lost=True,
            attempts=20,
        )

    def app(self) -> web.Application:
        app = web.Application()
        self.auth.add_routes(app)
        app.router.add_get("/messaging/v1/sms/messages/", self._not_sent)
        app.router.add_get("/messaging/v1/sms/messages/{key}", self._status)
        app.router.add_post("/messaging/v1/sms/messages/{key}", self._send_one)
        app.router.add_post("/_sim/messages", self._create)
        self.add_control_routes(app)
        app.cleanup_ctx.append(self.pusher.context)
        return app

    def send(self, count: int = 1) -> list[SimMessage]:
        created = []
        for _ in range(count):
            message = self.factory.create(channel="sms")
            message.id = f"tx-{message.id}"
            self.messages[message.id] = message
            self.pusher.schedule(message)
            created.append(message)
        return created

    def demo_send(self) -> dict[str, str]:
        return {"message_key": self.send(1)[0].id}

    def truth(self) -> dict[str, Any]:
        if self.pusher.url is not None:
            # ENS tells what the status API cannot: deliveries and bounces.
            return truth(
                list(self.messages.values()), self.clock(), reason_of=ens_reason, segments=False
            )
        return truth(
            list(self.messages.values()),
            self.clock(),
            fate_of=api_fate,
            final_stages=frozenset({"sent", "rejected"}),
            segments=False,
            latency=False,
        )

    def push_options(self) -> dict[str, Any]:
        return {"signature_key": self.signature_key}

    def push_to(self, url: str) -> None:
        self.pusher.url = url

    def verification_body(self, callback_id: str = "sim-callback") -> bytes:
        """What ENS posts, unsigned, right after a callback is created."""
        return json.dumps(
            {"callbackId": callback_id, "verificationKey": "sim-" + callback_id}
        ).encode()

    def _ens_event(self, message: SimMessage, stage: str, when: float) -> dict[str, Any] | None:
        """One ENS event of a status change, with the vendor's quirks now and then."""
        if stage in ("queued", "read"):
            return None
        quirk = int(message.id[-3], 16) % 4
        code: int | None = None
        if stage == "sent":
            kind, code = ("SmsTransient", 3000) if quirk == 0 else ("SmsSent", None)
        elif stage == "delivered":
            # A vendor sample labels a delivery SmsTransient: its code says what it is.
            kind, code = ("SmsTransient" if quirk == 1 else "SmsDelivered"), 4000
        elif stage == "undelivered":
            kind, code = "SmsBounced", BOUNCE_CODES[ens_reason(message) or "undeliverable"]
        else:
            reason = message.reason or "other"
            kind, code = "SmsNotSent", int(_CODE_OF.get(reason, "24"))
        info: dict[str, Any] = {
            "messageKey": message.id,
            "to": message.number,
            "subscriberKey": f"c-{message.id[-8:]}",
        }
        if code is not None:
            info["statusCode"] = str(code) if quirk == 2 else code
        if stage == "rejected":
            info["statusMessage"] = MESSAGES.get(message.reason or "other", "Undocumented error")
        stamp = int(when * 1000)
        return {
            "eventCategoryType": f"TransactionalSendEvents.{kind}",
            "timestampUTC": str(stamp) if quirk == 2 else stamp,
            "compositeId": f"{message.id[-6:]}.1.1",
            "definitionKey": "sim-definition",
            "mid": 100,
            "eid": 100,
            ("Info" if quirk == 3 else "info"): info,
        }

    def _ens_call(self, events: list[dict[str, Any]]) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(events).encode()
        digest = hmac.new(self.signature_key.encode(), body, hashlib.sha256).digest()
        return body, {
            "Content-Type": "application/json",
            "x-sfmc-ens-signature": base64.b64encode(digest).decode(),
        }

    def render(self, message: SimMessage) -> dict[str, Any]:
        stage, changed_at = message.stage_at(self.clock())
        event = _EVENTS.get(stage, "SMSSent")
        info: dict[str, Any] = {
            "messageKey": message.id,
            "contactKey": f"c-{message.id[-8:]}",
            "to": message.number,
        }
        if event == "SMSNotSent":
            reason = message.reason or "other"
            info["statusCode"] = int(_CODE_OF.get(reason, "24"))
            info["statusMessage"] = MESSAGES.get(reason, "Undocumented error")
        stamp = format_cst(changed_at)
        body: dict[str, Any] = {
            "requestId": f"r-{message.id[-12:]}",
            "eventCategoryType": f"TransactionalSendEvents.{event}",
            # Two-digit fractions occur in real answers as well as three.
            "timestamp": stamp[:-1] if int(message.id[-1], 16) % 2 else stamp,
            "compositeId": f"{message.id[-6:]}.1.1",
        }
        # Real answers nest these in info; the seed shows them at top level. Serve both.
        if int(message.id[-2], 16) % 2:
            body["info"] = info
        else:
            body.update(info)
        return body

    async def _status(self, request: web.Request) -> web.Response:
        self.requests += 1
        refused = await refusal(request, self.auth, self.faults)
        if refused is not None:
            return refused
        message = self.messages.get(request.match_info["key"])
        if message is None:
            return web.json_response(
                {"message": "MessageKey not found", "errorcode": 30005, "documentation": ""},
                status=404,
            )
        return web.json_response(self.render(message))

    async def _send_one(self, request: web.Request) -> web.Response:
        """The send API: a definition, a recipient, a messageKey unique over 2 days."""
        refused = await refusal(request, self.auth, self.faults)
        if refused is not None:
            return refused
        key = request.match_info["key"]
        body = await read_json_body(request)
        recipient = body.get("recipient") if isinstance(body, dict) else None
        to = recipient.get("to") if isinstance(recipient, dict) else None
        if not isinstance(body, dict) or body.get("definitionKey") != self.definition_key:
            return _invalid("definitionKey is not an active send definition", 30003)
        if not isinstance(to, str) or key in self.messages:
            return _invalid("recipient.to is missing, or messageKey was used", 30001)
        answer: dict[str, Any] = {"messageKey": key}
        if self.refuse_recipients:
            answer |= {"errorcode": 30008, "message": "Unable to queue the message"}
        else:
            message = self.factory.create(channel="sms", number=to)
            message.id = key
            self.messages[key] = message
            self.pusher.schedule(message)
        return web.json_response(
            {"requestId": f"r-{key[-12:]}", "errorcode": 0, "responses": [answer]}, status=202
        )

    async def _not_sent(self, request: web.Request) -> web.Response:
        refused = await refusal(request, self.auth, self.faults)
        if refused is not None:
            return refused
        try:
            if request.query.get("type") != "notSent":
                raise ValueError("type")
            size = int(request.query.get("$pageSize", "50"))
            after = int(request.query.get("lastEventId", "0"))
            if not 1 <= size <= 2500 or after < 0:
                raise ValueError("range")
        except ValueError:
            return web.json_response(
                {"message": "Invalid request", "errorcode": 10001, "documentation": ""},
                status=400,
            )
        self.feed_positions.append(after)
        self._record_not_sent()
        page = self.not_sent_events[after : after + size]
        events = [
            {**self.render(self.messages[key]), "eventID": after + index + 1}
            for index, key in enumerate(page)
        ]
        return web.json_response({"lastEventID": after + len(page), "messages": events})

    def _record_not_sent(self) -> None:
        """Events get their IDs in the order the refusals happened, once each."""
        now = self.clock()
        known = set(self.not_sent_events)
        happened = sorted(
            (message.stage_at(now)[1], key)
            for key, message in self.messages.items()
            if key not in known and message.stage_at(now)[0] == "rejected"
        )
        self.not_sent_events.extend(key for _, key in happened)

    async def _create(self, request: web.Request) -> web.Response:
        body = await read_json_body(request)
        return web.json_response({"keys": [m.id for m in self.send(int(body.get("count", 1)))]})


def _invalid(message: str, code: int) -> web.Response:
    return web.json_response(
        {"message": message, "errorcode": code, "documentation": ""}, status=400
    )


def demo_simulator() -> TransactionalSimulator:
    """The simulator ``sms-delivery-exporter demo`` runs (entry point ``sfmc_transactional``)."""
    return TransactionalSimulator(scenario=DEMO_SCENARIO)

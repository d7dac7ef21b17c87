"""Webhooks in-process: each provider's simulator posts them to the real exporter, on loopback."""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import re
import sqlite3
import stat
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sms_delivery_exporter.api import Observation, PushedEvent, Status
from sms_delivery_exporter.intake.items import ref_key
from sms_delivery_exporter.intake.sampling import sampled_in
from sms_delivery_exporter.process.logs import LogfmtFormatter
from sms_delivery_exporter.push.events import decode, dedupe_key, kept, restore
from sms_delivery_exporter.store import NewPushEvent, store_for
from sms_delivery_providers.d7.simulator import D7Simulator
from sms_delivery_providers.namirial.ref import NamirialRef
from sms_delivery_providers.namirial.simulator import NamirialSimulator
from sms_delivery_providers.sfmc_transactional.ref import SfmcTransactionalRef
from tests.helpers import by_label, total, wait_for
from tests.push_helpers import FAST, PUSHING, QUICK_NET, Pushed, Start, start_pushed

FINAL = "sms_messages_final_total"
BY_SOURCE = "sms_messages_final_by_source_total"
EVENTS = "sms_exporter_push_events_total"
CALLS = "sms_exporter_push_requests_total"
STATUS_PATHS = {
    "namirial": "/api/messagestatus/",
    "d7": "/report/v1/message-log/",
    "sfmc_transactional": "/messaging/v1/sms/messages/",
}


def status_calls(pushed: Pushed, provider: str, ref: str = "") -> int:
    """Status API calls the simulator served (not tokens, probes or list endpoints),
    of one ref if given."""
    prefix = STATUS_PATHS[provider] + ref
    return sum(
        1
        for call in pushed.simulator.calls
        if call.path.startswith(prefix) and "/reference/" not in call.path
    )


def results(pushed: Pushed, name: str) -> dict[str, float]:
    return by_label(pushed.exporter.samples(), name, "result")


async def all_final(pushed: Pushed, timeout: float = 30) -> None:
    messages = pushed.simulator.truth()["messages"]

    def done() -> bool:
        return bool(total(pushed.exporter.samples(), FINAL) == messages)

    await wait_for(done, timeout=timeout, what=f"{messages} final messages")


class TestPushAlone:
    """With the safety net an hour away, webhooks alone tell every final status."""

    @pytest.mark.parametrize("provider", PUSHING)
    async def test_every_final_by_push_and_no_status_poll(
        self, tmp_path: Path, serve: Start, start_exporter: Start, provider: str
    ) -> None:
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, provider, push={"confirm_after": "1s"}
        )
        await pushed.post(pushed.register(40))
        await all_final(pushed)
        truth = pushed.simulator.truth()
        if provider == "d7":
            # Reports tell statuses only: one confirming poll per request counts the rest.
            def billed() -> bool:
                samples = pushed.exporter.samples()
                return bool(total(samples, "sms_message_segments_total") == truth["segments"])

            await wait_for(billed, what="parts counted by the confirming polls")
        samples = pushed.exporter.samples()
        truth = pushed.simulator.truth()
        assert by_label(samples, FINAL, "status") == truth["final"]
        sources = by_label(samples, BY_SOURCE, "source")
        if provider == "d7":
            # A request is first polled to confirm a final its report told, and that poll
            # may see another recipient's final before that one's report comes.
            assert isinstance(pushed.simulator, D7Simulator)
            requests = pushed.simulator.requests_by_id.values()
            assert sources["push"] >= len(requests)
            assert sources.get("poll", 0) <= sum(len(r.recipients) - 1 for r in requests)
            assert sum(sources.values()) == truth["messages"]
        else:
            assert sources == {"push": truth["messages"]}
        assert total(samples, "sms_message_cost_total") == pytest.approx(truth["cost"])
        assert total(samples, "sms_messages_in_flight") == 0
        if provider == "d7":
            assert total(samples, "sms_messages_final_by_country_total") == truth["messages"]
        # No ref is left to poll (D7's once its confirming poll came), but for delivered
        # RCS awaiting a read receipt (the safety net polls for those)...
        store = pushed.exporter.store

        async def none_open() -> bool:
            reading = total(pushed.exporter.samples(), "sms_messages_awaiting_read")
            return await store.count_refs("acct", open_only=True) == reading

        await wait_for(none_open, what="every ref finished")
        # ... and none was polled: final by push, never polled, but for D7's confirming
        # polls: one per request, and one more each time a poll came while a recipient
        # was still open (recipients finish apart) and a webhook later finished it.
        if provider == "d7":
            assert isinstance(pushed.simulator, D7Simulator)
            for request_id, request in pushed.simulator.requests_by_id.items():
                polls = status_calls(pushed, provider, request_id)
                assert 1 <= polls <= len(request.recipients), (polls, len(request.recipients))
        else:
            assert status_calls(pushed, provider) == 0


class TestCalls:
    """Bad calls get a 4xx naming the problem, apply nothing, and are counted."""

    async def test_wrong_or_missing_token(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        [item] = pushed.register(1)
        body = status_update(item["id"], "DELIVERED")
        for query in ("", "?token=wrong", "?token=" + "x" * 5000, "?other=1"):
            response = await pushed.client.post(f"/api/v1/push/acct{query}", json=body)
            answer = await response.json()
            assert response.status == 401, answer
            assert "token" in answer["error"]
            assert push_option(pushed, "token") not in str(answer)
        assert results(pushed, CALLS) == {"bad_token": 4}
        assert await pushed.exporter.store.pending_push_events() == []
        assert total(pushed.exporter.samples(), FINAL) == 0

    async def test_wrong_signature(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, "sfmc_transactional", pushing=False
        )
        body = json.dumps([ens_event("tx-1", "SmsDelivered", 4000)]).encode()
        for signature in (None, "", "not base64!", "AAAA", sign(b"other body", pushed)):
            headers = {"Content-Type": "application/json"}
            if signature is not None:
                headers["x-sfmc-ens-signature"] = signature
            response = await pushed.client.post("/api/v1/push/acct", data=body, headers=headers)
            assert response.status == 401
            assert "x-sfmc-ens-signature" in (await response.json())["error"]
        assert results(pushed, CALLS) == {"bad_signature": 5}
        assert await pushed.exporter.store.pending_push_events() == []

    @pytest.mark.parametrize(
        ("body", "content_type", "problem"),
        [
            (b"{not json", "application/json", "not valid JSON"),
            (b"\xff\xfe", "application/json", "not UTF-8"),
            (b"", "application/json", "empty"),
            (b"[1, 2]", "application/json", "JSON object"),
            (b'{"type": "STATUS_UPDATE"}', "application/json", "'message'"),
            (b"[" * 5000 + b"]" * 5000, "application/json", "nested"),
            (b'{"type": "STATUS_UPDATE", "x": NaN}', "application/json", "not valid JSON"),
            (b'{"type": "STATUS_UPDATE", "x": 1e999}', "application/json", "not valid JSON"),
            (b'{"type": "STATUS_UPDATE", "x": "\\ud800"}', "application/json", "not valid JSON"),
            (b'{"type": "STATUS_UPDATE", "message": {"id": "x"}}', "application/json", "id"),
        ],
    )
    async def test_malformed_bodies(
        self,
        tmp_path: Path,
        serve: Start,
        start_exporter: Start,
        body: bytes,
        content_type: str,
        problem: str,
    ) -> None:
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        response = await pushed.client.post(
            token_path(pushed), data=body, headers={"Content-Type": content_type}
        )
        answer = await response.json()
        assert response.status == 400, answer
        assert problem in answer["error"] and "nothing was applied" in answer["error"]
        assert results(pushed, CALLS) == {"malformed": 1}
        assert await pushed.exporter.store.pending_push_events() == []

    async def test_oversized_unknown_account_and_a_bad_status(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, "d7", pushing=False, push={"max_body_bytes": 2048}
        )
        big = {"request_id": str(uuid.uuid4()), "msg_id": "m", "status": "sent", "x": "y" * 4000}
        response = await pushed.client.post(token_path(pushed), json=big)
        assert response.status == 413
        assert "push.max_body_bytes" in (await response.json())["error"]
        # Under 2 KiB that would inflate to 1.5 MiB: refused as it is, never inflated.
        bomb = gzip.compress(b'{"x": "' + b"0" * (3 << 19) + b'"}')
        assert len(bomb) < 2048
        response = await pushed.client.post(
            token_path(pushed),
            data=bomb,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
        assert response.status == 415 and "gzip" not in await response.text()
        response = await pushed.client.post("/api/v1/push/nobody", json={})
        assert response.status == 404 and "nobody" not in await response.text()
        bad = {"request_id": str(uuid.uuid4()), "msg_id": "m", "status": "lost_in_space"}
        response = await pushed.client.post(token_path(pushed), json=bad)
        assert response.status == 400 and "unknown status" in (await response.json())["error"]
        assert results(pushed, CALLS) == {"too_large": 1, "malformed": 2}

    async def test_bodies_at_once_in_parts_or_stopped(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """A body is read whole, sent at once or in parts, within push.max_body_bytes (with a
        length or without) and intake.read_timeout."""
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            pushing=False,
            push={"max_body_bytes": 2048},
            sections={"intake": {"read_timeout": "1s"}},
        )
        [item] = pushed.register(1)
        body = json.dumps(status_update(item["id"], "DELIVERED")).encode()
        head = f"POST {token_path(pushed)} HTTP/1.1\r\nHost: x\r\n"
        head += "Content-Type: application/json\r\n"
        sized = f"{head}Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
        answer = await send_in_parts(pushed, sized + body[:100], body[100:])
        assert answer.startswith(b"HTTP/1.1 200") and b'"accepted": 1' in answer
        chunked = f"{head}Transfer-Encoding: chunked\r\n\r\n".encode()
        big = b"x" * 3000
        for parts in ([chunk(big) + b"0\r\n\r\n"], [chunk(big[:1500]), chunk(big[1500:])]):
            answer = await send_in_parts(pushed, chunked + parts[0], *parts[1:])
            assert answer.startswith(b"HTTP/1.1 413") and b"push.max_body_bytes" in answer
        stopped = f"{head}Content-Length: 1000\r\n\r\n{{".encode()
        answer = await send_in_parts(pushed, stopped)
        assert answer.startswith(b"HTTP/1.1 408") and b"intake.read_timeout" in answer
        assert results(pushed, CALLS) == {"accepted": 1, "too_large": 2, "timeout": 1}

    async def test_nothing_kept_is_a_503_the_provider_retries(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """A store that cannot keep what it acknowledges: 503, nothing kept, the retry works."""
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        [item] = pushed.register(1)
        body = status_update(item["id"], "DELIVERED")
        pushed.exporter.store.health.report("unwritable", "the test says so")
        response = await pushed.client.post(token_path(pushed), json=body)
        assert response.status == 503 and response.headers["Retry-After"]
        assert "nothing of this call was kept" in (await response.json())["error"]
        pushed.exporter.store.health.clear("unwritable")
        assert await pushed.exporter.store.pending_push_events() == []
        response = await pushed.client.post(token_path(pushed), json=body)
        assert response.status == 200  # the provider's retry
        assert results(pushed, CALLS) == {"unavailable": 1, "accepted": 1}

    async def test_duplicates_and_late_sent_change_nothing(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        [item] = pushed.register(1)
        await pushed.post([item])
        delivered = status_update(item["id"], "DELIVERED")
        for body in (delivered, delivered):
            response = await pushed.client.post(token_path(pushed), json=body)
            assert response.status == 200
        assert await response.json() == {"accepted": 0, "duplicates": 1}
        await wait_for(lambda: results(pushed, EVENTS).get("applied"), what="applied")
        late = status_update(item["id"], "SENT")  # another event, too late: the ref is done
        assert (await pushed.client.post(token_path(pushed), json=late)).status == 200
        await wait_for(lambda: results(pushed, EVENTS).get("finished"), what="late sent")
        samples = pushed.exporter.samples()
        assert by_label(samples, FINAL, "status") == {"delivered": 1}
        assert total(samples, "sms_messages_in_flight") == 0
        assert results(pushed, EVENTS) == {"applied": 1, "duplicate": 1, "finished": 1}
        assert total(samples, "sms_exporter_push_delay_seconds_count") == 1

    async def test_late_sent_after_delivered_in_an_open_ref(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """A D7 request stays open after one recipient's delivery: its late sent changes nothing."""
        pushed = await start_pushed(tmp_path, serve, start_exporter, "d7", pushing=False)
        [item] = pushed.register(1)
        await pushed.post([item])
        report = {"request_id": item["request_id"], "msg_id": "m-1", "recipient": "+4479"}
        for status in ("delivered", "sent", "un_delivered"):
            response = await pushed.client.post(
                token_path(pushed), json={**report, "status": status}
            )
            assert response.status == 200
        await wait_for(lambda: results(pushed, EVENTS).get("applied") == 3, what="3 applied")
        samples = pushed.exporter.samples()
        assert by_label(samples, FINAL, "status") == {"delivered": 1}
        assert total(samples, "sms_exporter_status_contradictions_total") == 1
        assert by_label(samples, "sms_messages_in_flight", "status") == {}


class TestUnregistered:
    """An event for a message nobody registered: waited for, tracked, or dropped."""

    async def test_registration_within_the_grace_applies_it(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        [item] = pushed.register(1)
        response = await pushed.client.post(
            token_path(pushed), json=status_update(item["id"], "DELIVERED")
        )
        assert await response.json() == {"accepted": 1, "duplicates": 0}
        applier = pushed.exporter.parts.push.applier
        await wait_for(lambda: applier.waiting == 1, what="the event waiting for its message")
        await pushed.post([item])  # the application's intake call, a moment later
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 1, what="final")
        assert by_label(pushed.exporter.samples(), BY_SOURCE, "source") == {"push": 1}

    async def test_after_the_grace_it_is_dropped(
        self,
        tmp_path: Path,
        serve: Start,
        start_exporter: Start,
        store_section: dict[str, Any],
    ) -> None:
        """On either store (PostgreSQL marks an event applied only with the ref it names,
        or with none: an event dropped must name none)."""
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            pushing=False,
            push={"registration_grace": "1s"},
            sections={"store": store_section},
        )
        [item] = pushed.register(1)
        await pushed.client.post(token_path(pushed), json=status_update(item["id"], "DELIVERED"))
        await wait_for(lambda: results(pushed, EVENTS).get("unknown_message"), what="dropped")
        await pushed.post([item])
        samples = await pushed.scraped()  # as Prometheus reads it (a shared store's totals)
        assert total(samples, FINAL) == 0 and total(samples, "sms_messages_tracked_total") == 1
        assert await pushed.exporter.store.pending_push_events() == []

    async def test_track_unregistered(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            pushing=False,
            push={"track_unregistered": True},
        )
        [item] = pushed.register(1)
        for status in ("SENT", "DELIVERED"):
            await pushed.client.post(token_path(pushed), json=status_update(item["id"], status))
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 1, what="final")
        again = await pushed.post([item])  # the application registers it after all
        samples = pushed.exporter.samples()
        assert again["duplicates"] == 1
        assert total(samples, "sms_messages_tracked_total") == 1
        assert total(samples, "sms_messages_tracked_from_push_total") == 1
        assert results(pushed, EVENTS) == {"tracked": 1, "applied": 1}
        assert total(samples, "sms_messages_in_flight") == 0
        # Each event's delay is observed, the one that started the tracking too.
        assert total(samples, "sms_exporter_push_delay_seconds_count") == 2

    async def test_a_message_first_heard_of_by_webhook_is_as_old_as_the_provider_says(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """Tracked from a webhook, a message's age (its tracking window, its first poll)
        counts from the provider's acceptance, but from no earlier than the window allows."""
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            pushing=False,
            push={"track_unregistered": True},
            schedule={**FAST, "tracking_window": "2h"},
        )
        recent, ancient = pushed.register(2)
        began = round(time.time(), 3)
        for item, age in ((recent, 30), (ancient, 30 * 86_400)):
            body = status_update(item["id"], "SENT", accepted=began - age)
            assert (await pushed.client.post(token_path(pushed), json=body)).status == 200
        await wait_for(
            lambda: total(pushed.exporter.samples(), "sms_messages_tracked_from_push_total") == 2,
            what="both tracked",
        )
        keys = [ref_key(NamirialRef(id=item["id"])) for item in (recent, ancient)]
        found = {f.ref.ref_key: f.ref for f in await pushed.exporter.store.find_refs("acct", keys)}
        assert found[keys[0]].submitted_at == pytest.approx(began - 30, abs=0.002)
        assert began - 7200 <= found[keys[1]].submitted_at <= time.time() - 7200


class TestApplying:
    """What the applier does with kept events beyond the plain case."""

    async def test_events_a_crash_left_unapplied_are_applied_at_the_next_start(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """A crash between a webhook's 200 and its applying leaves its events kept: the
        next start applies them, and drops those no account of its config can apply."""
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        items = pushed.register(2)
        await pushed.post(items)
        await pushed.client.close()
        began = time.time()
        left = [delivered_event("acct", item["id"], began - 3 + n) for n, item in enumerate(items)]
        left.append(delivered_event("gone", items[0]["id"], began))  # account not configured
        left.append(NewPushEvent("acct", "unreadable", began, "[1, 2"))  # a text none reads
        store = store_for(pushed.config.store)
        await store.open()
        try:
            assert None not in await store.add_push_events(left)
        finally:
            await store.close()
        exporter, _ = await start_exporter(pushed.config)
        await wait_for(lambda: total(exporter.samples(), FINAL) == 2, what="both final")
        samples = exporter.samples()
        assert by_label(samples, EVENTS, "result") == {"applied": 2}
        assert by_label(samples, BY_SOURCE, "source") == {"push": 2}
        # Each event's delay from its own time (3 and 2 seconds before the restart) to its
        # counting, once each.
        assert total(samples, "sms_exporter_push_delay_seconds_count") == 2
        delays = total(samples, "sms_exporter_push_delay_seconds_sum")
        assert 5 <= delays <= 5 + 2 * (time.time() - began)
        assert await exporter.store.pending_push_events() == []

    async def test_an_event_done_without_a_ref_leaves_the_rest_of_its_round(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """One call's events are applied in one round: an event of a message sampled out,
        first, is counted so, and the registered message's event after it still applies."""
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, "sfmc_transactional", pushing=False, sample_rate=0.5
        )
        items = pushed.register(20)
        await pushed.post(items)

        def tracked(item: dict[str, Any]) -> bool:
            ref = SfmcTransactionalRef(message_key=item["message_key"])
            return sampled_in("acct", ref_key(ref), 0.5)

        [out, *_] = [item["message_key"] for item in items if not tracked(item)]
        [kept_in, *_] = [item["message_key"] for item in items if tracked(item)]
        events = [ens_event(key, "SmsDelivered", "4000") for key in (out, kept_in)]
        body = json.dumps(events).encode()
        response = await pushed.client.post(
            "/api/v1/push/acct", data=body, headers={"x-sfmc-ens-signature": sign(body, pushed)}
        )
        assert await response.json() == {"accepted": 2, "duplicates": 0}
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 1, what="one final")
        await wait_for(lambda: len(results(pushed, EVENTS)) == 2, what="both events counted")
        assert results(pushed, EVENTS) == {"sampled_out": 1, "applied": 1}

    async def test_a_commit_the_store_refuses_is_tried_again(
        self,
        tmp_path: Path,
        serve: Start,
        start_exporter: Start,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        """The store refuses the applier's commit (a trigger the test puts in the database):
        the acknowledged event stays kept, and applies once the store takes commits again."""
        caplog.set_level(logging.ERROR)
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        [item] = pushed.register(1)
        await pushed.post([item])
        database = sqlite3.connect(pushed.config.store.path, isolation_level=None)
        try:
            database.execute(
                "CREATE TRIGGER refused BEFORE UPDATE OF applied ON push_events"
                " BEGIN SELECT RAISE(ABORT, 'refused by the test'); END"
            )
            response = await pushed.client.post(
                token_path(pushed), json=status_update(item["id"], "DELIVERED")
            )
            assert response.status == 200

            def refused() -> bool:
                return any("cannot apply" in record.getMessage() for record in caplog.records)

            await wait_for(refused, what="a commit refused")
            assert total(pushed.exporter.samples(), FINAL) == 0
        finally:
            database.execute("DROP TRIGGER IF EXISTS refused")
            database.close()
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 1, what="final")
        assert results(pushed, EVENTS) == {"applied": 1}
        assert await pushed.exporter.store.pending_push_events() == []

    async def test_a_backlog_past_its_bound_is_a_503_until_it_drains(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """Events waiting to be applied are bounded: past the bound a call is refused whole
        (the provider sends it again later), and taken again once the backlog drains."""
        pushed = await start_pushed(tmp_path, serve, start_exporter, "namirial", pushing=False)
        pushed.exporter.parts.push.max_backlog = 2
        items = pushed.register(3)
        bodies = [status_update(item["id"], "DELIVERED") for item in items]
        for body in bodies[:2]:  # before their registration: both wait for it
            assert (await pushed.client.post(token_path(pushed), json=body)).status == 200
        applier = pushed.exporter.parts.push.applier
        await wait_for(lambda: applier.waiting == 2, what="two events waiting")
        refused = await pushed.client.post(token_path(pushed), json=bodies[2])
        assert refused.status == 503 and refused.headers["Retry-After"]
        assert "2 webhook events wait to be applied" in (await refused.json())["error"]
        await pushed.post(items)
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 2, what="two final")
        await wait_for(lambda: applier.backlog == 0, what="the backlog drained")
        assert (await pushed.client.post(token_path(pushed), json=bodies[2])).status == 200
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 3, what="the third")
        assert results(pushed, CALLS) == {"accepted": 3, "unavailable": 1}


class TestReconciliation:
    """Polling is the safety net: lost webhooks end right, and nothing counts twice."""

    async def test_lost_webhooks_end_by_the_safety_net(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            safety_net=QUICK_NET,
            scenario={"push_loss_rate": 0.5, "push_duplicate_rate": 0.3, "push_jitter": 1.0},
        )
        await pushed.post(pushed.register(60))
        await all_final(pushed)
        samples = pushed.exporter.samples()
        truth = pushed.simulator.truth()
        assert by_label(samples, FINAL, "status") == truth["final"]
        sources = by_label(samples, BY_SOURCE, "source")
        assert sources["push"] > 0 and sources["poll"] > 0
        assert sum(sources.values()) == truth["messages"]

    async def test_a_webhook_during_a_poll_of_its_ref_counts_once(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """Poll and webhook both see the delivery: whichever commits first counts it, once."""
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "namirial",
            safety_net={**QUICK_NET, "first_poll": "0s"},
            scenario={
                "latency_median": 0.05,
                "latency_sigma": 0.0,
                "delivered": 1.0,
                "undelivered": 0.0,
                "rejected": 0.0,
                "slow_rate": 1.0,
                "slow_seconds": 1.0,
            },
            pushing=False,
        )
        served = pushed.simulator.faults.served
        simulator = pushed.simulator
        assert isinstance(simulator, NamirialSimulator)
        await wait_for(lambda: simulator.requests >= 1, what="the credential check")
        base = served["slow"]
        [item] = pushed.register(1)
        await pushed.post([item])
        # The poll is under way (its answer comes in a second) when the webhook arrives.
        await wait_for(lambda: served["slow"] > base, what="a poll under way")
        response = await pushed.client.post(
            token_path(pushed), json=status_update(item["id"], "DELIVERED")
        )
        assert response.status == 200
        reservations = pushed.exporter.parts.pollers["acct"].reservations

        def both_done() -> bool:
            polled = simulator.requests >= 2 and not reservations.held_by("poll")
            return polled and bool(results(pushed, EVENTS))

        await wait_for(both_done, what="the poll committed and the webhook dealt with")
        samples = pushed.exporter.samples()
        assert total(samples, FINAL) == 1
        assert sum(by_label(samples, BY_SOURCE, "source").values()) == 1
        assert total(samples, "sms_delivery_latency_seconds_count") == 1

    async def test_sent_is_open_for_pushed_sfmc_transactional_and_polls_stop_there(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """The status API stops at sent: with push on, sent waits for ENS, polled no more."""
        pushed = await start_pushed(
            tmp_path,
            serve,
            start_exporter,
            "sfmc_transactional",
            safety_net=QUICK_NET,
            scenario={"delivered": 1.0, "undelivered": 0.0, "rejected": 0.0},
            pushing=False,  # ENS is silent: only the safety net polls
            schedule={"tracking_window": "4s", "first_poll": "1s", "initial_interval": "1s"},
        )
        await pushed.post(pushed.register(3))
        await wait_for(
            lambda: (
                by_label(pushed.exporter.samples(), "sms_messages_in_flight", "status").get("sent")
                == 3
            ),
            what="three messages sent, in flight",
        )
        polled = status_calls(pushed, "sfmc_transactional")
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 3, what="expiry")
        samples = pushed.exporter.samples()
        assert by_label(samples, FINAL, "status") == {"expired": 3}
        assert by_label(samples, BY_SOURCE, "source") == {"expiry": 3}
        # No poll between sent and the window's end, whose one poll each expires them.
        assert status_calls(pushed, "sfmc_transactional") <= polled + 3


class TestEns:
    """SFMC's ENS: the verification call, and the vendor's malformed samples."""

    async def test_verification_key_is_kept_privately(
        self,
        tmp_path: Path,
        serve: Start,
        start_exporter: Start,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        caplog.set_level(logging.INFO)
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, "sfmc_transactional", pushing=False
        )
        body = {"callbackId": "cb-0123", "verificationKey": "vk-secret-4567"}
        response = await pushed.client.post("/api/v1/push/acct", json=body)  # unsigned
        assert response.status == 200
        kept = tmp_path / "push-verification-acct.json"
        assert json.loads(kept.read_text())["secret"] == "vk-secret-4567"
        assert json.loads(kept.read_text())["reference"] == "cb-0123"
        assert stat.S_IMODE(kept.stat().st_mode) == 0o600
        page = await (await pushed.client.get("/")).text()
        assert "cb-0123" in page and str(kept) in page and "vk-secret-4567" not in page
        logged = "\n".join(LogfmtFormatter().format(record) for record in caplog.records)
        assert "vk-secret-4567" not in logged and "cb-0123" in logged and str(kept) in logged
        assert results(pushed, CALLS) == {"handshake": 1}
        assert total(pushed.exporter.samples(), "sms_messages_tracked_total") == 0

    async def test_setup_calls_at_once_are_each_kept_whole(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """Setup calls are unsigned, so several may come at once: each is answered 200, and
        the file holds one of them whole (no temporary file left)."""
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, "sfmc_transactional", pushing=False
        )
        bodies = [{"callbackId": f"cb-{n}", "verificationKey": f"vk-{n}"} for n in range(20)]
        answers = await asyncio.gather(
            *(pushed.client.post("/api/v1/push/acct", json=body) for body in bodies)
        )
        assert [answer.status for answer in answers] == [200] * 20
        kept = json.loads((tmp_path / "push-verification-acct.json").read_text())
        assert {"callbackId": kept["reference"], "verificationKey": kept["secret"]} in bodies
        assert temporary_files(tmp_path) == []
        assert results(pushed, CALLS) == {"handshake": 20}

    async def test_the_vendors_malformed_samples(
        self, tmp_path: Path, serve: Start, start_exporter: Start
    ) -> None:
        """``Info`` capitalised, numbers as strings, a delivery labelled SmsTransient."""
        pushed = await start_pushed(
            tmp_path, serve, start_exporter, "sfmc_transactional", pushing=False
        )
        items = pushed.register(4)
        await pushed.post(items)
        keys = [item["message_key"] for item in items]
        events = [
            ens_event(keys[0], "SmsDelivered", "4000", info_key="Info"),
            ens_event(keys[1], "SmsTransient", 4000),
            ens_event(keys[2], "SmsBounced", "4504"),
            ens_event(keys[3], "SmsNotSent", 1, message="Unsubscribed"),
            {"eventCategoryType": "EmailSendEvents.EmailSent", "info": {}},  # not ours
        ]
        body = json.dumps(events).encode()
        response = await pushed.client.post(
            "/api/v1/push/acct",
            data=body,
            headers={"x-sfmc-ens-signature": sign(body, pushed)},
        )
        assert await response.json() == {"accepted": 4, "duplicates": 0}
        await wait_for(lambda: total(pushed.exporter.samples(), FINAL) == 4, what="4 finals")
        samples = pushed.exporter.samples()
        assert by_label(samples, FINAL, "status") == {
            "delivered": 2,
            "undelivered": 1,
            "rejected": 1,
        }
        assert by_label(samples, "sms_message_failures_total", "reason") == {
            "unknown_subscriber": 1,
            "unsubscribed": 1,
        }
        assert total(samples, "sms_delivery_latency_seconds_count") == 2


def status_update(message_id: str, status: str, accepted: float | None = None) -> dict[str, Any]:
    """A Namirial STATUS_UPDATE of one message, accepted by the provider at ``accepted``
    (Unix seconds, to the millisecond; 2030-01-01 if not given)."""
    when = "2030-01-01T00:00:00Z"
    if accepted is not None:
        when = datetime.fromtimestamp(accepted, UTC).isoformat(timespec="milliseconds")
    return {
        "id": str(uuid.uuid4()),
        "webhookConfigurationId": "w",
        "type": "STATUS_UPDATE",
        "createdAt": "2030-01-01T00:00:01Z",
        "message": {
            "id": message_id,
            "providerAcceptanceAt": when,
            "statusChangedAt": "2030-01-01T00:00:01Z",
            "channel": "SMS",
            "status": status,
            "provider": {"name": "P", "id": "x", "status": status.lower(), "code": "0"},
            "sms": {"segments": 1},
        },
    }


def delivered_event(account: str, message_id: str, at: float) -> NewPushEvent:
    """A Namirial delivery as the inbox keeps it, made at ``at``."""
    ref = NamirialRef(id=message_id)
    seen = Observation(
        key="",
        status=Status.DELIVERED,
        provider_status="DELIVERED",
        accepted_at=at - 1,
        changed_at=at,
        segments=1,
    )
    event = PushedEvent(ref, seen, str(uuid.uuid4()), at)
    key = ref_key(ref)
    _, text = kept(event, key)
    return NewPushEvent(account, dedupe_key(event, key), at, text)


def temporary_files(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.suffix == ".tmp"]


def ens_event(
    key: str,
    kind: str,
    code: int | str | None,
    *,
    info_key: str = "info",
    message: str | None = None,
) -> dict[str, Any]:
    info: dict[str, Any] = {"messageKey": key, "to": "15555550123", "subscriberKey": "s"}
    if code is not None:
        info["statusCode"] = code
    if message is not None:
        info["statusMessage"] = message
    return {
        "eventCategoryType": f"TransactionalSendEvents.{kind}",
        "timestampUTC": "1790000000123",
        "compositeId": "c",
        info_key: info,
    }


def sign(body: bytes, pushed: Pushed) -> str:
    import base64
    import hashlib
    import hmac

    key = push_option(pushed, "signature_key").encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


class TestKeptEvents:
    """What the inbox keeps of an event reads back as the plugin made it, whatever its strings,
    under a key that tells its redeliveries."""

    @pytest.mark.parametrize("provider_status", ["DELIVRD", "délivré ✓", "lone \ud800"])
    def test_read_back_as_made(self, provider_status: str) -> None:
        seen = Observation(
            key="m-1",
            status=Status.DELIVERED,
            provider_status=provider_status,
            accepted_at=1_700_000_000.25,
            changed_at=float("inf"),  # never kept: unknown instead
            segments=2,
            cost=0.0123,
            currency="EUR",
        )
        event = PushedEvent(NamirialRef(id=str(uuid.uuid4())), seen, "e-1", 1_700_000_001.5)
        fields, text = kept(event, "key")
        read = decode(7, "acct", 1.0, text)
        assert read == restore(7, "acct", 1.0, fields)
        assert read.observation == replace(seen, changed_at=None)
        assert (read.ref_key, read.event_time) == ("key", 1_700_000_001.5)

    def test_dedupe_keys_follow_the_events_time(self) -> None:
        """A redelivery gets its event's key; a stream's keys come in its order (the store's
        unique index grows at its end); a time that cannot lead a key is left out."""
        ref = NamirialRef(id=str(uuid.uuid4()))
        seen = Observation(key="", status=Status.DELIVERED, provider_status="DELIVERED")
        times = [1_700_000_000.0 + k * 0.0011 for k in range(500)]
        keys = [dedupe_key(PushedEvent(ref, seen, str(uuid.uuid4()), t), "k") for t in times]
        assert keys == sorted(keys) and len(set(keys)) == len(keys)
        again = PushedEvent(ref, seen, "e-1", times[7])
        assert dedupe_key(again, "k") == dedupe_key(replace(again), "k")
        untimed = dedupe_key(PushedEvent(ref, seen, "e-1"), "k")
        assert len(untimed) == 32 and dedupe_key(again, "k").endswith(untimed)
        for when in (float("nan"), float("inf"), -1.0, 1e15):
            assert dedupe_key(PushedEvent(ref, seen, "e-1", when), "k") == untimed


def chunk(data: bytes) -> bytes:
    """One chunk of a body sent with ``Transfer-Encoding: chunked``."""
    return b"%x\r\n%s\r\n" % (len(data), data)


async def send_in_parts(pushed: Pushed, *parts: bytes) -> bytes:
    """Send a raw request in parts a moment apart (each its own TCP segment, so the server
    has only the first when it starts on the call), and read the answer (within 10 s)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", pushed.client.port)
    try:
        for number, part in enumerate(parts):
            if number:
                await asyncio.sleep(0.2)  # the pause is the test's input, not a wait
            writer.write(part)
            await writer.drain()
        async with asyncio.timeout(10):
            head = await reader.readuntil(b"\r\n\r\n")
            length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
            assert length is not None, head
            return head + await reader.readexactly(int(length[1]))
    finally:
        writer.close()


def token_path(pushed: Pushed) -> str:
    return f"/api/v1/push/acct?token={push_option(pushed, 'token')}"


def push_option(pushed: Pushed, name: str) -> str:
    options = pushed.simulator.push_options()
    assert options is not None
    return str(options[name])

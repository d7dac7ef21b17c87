"""Receiving one webhook call: the plugin verifies and reads it, the host keeps its events.

The answer comes only after the events are committed (:class:`~.inbox.Inbox`):
a 2xx means nothing of the call can be lost. A refused or unreadable call
applies nothing; a plugin that fails on a body is a bug in it, logged, and
the call is answered as unreadable, never with a 500.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pydantic import ValidationError

from sms_delivery_exporter.api import (
    PushBatch,
    PushedEvent,
    PushMalformed,
    PushReceiver,
    PushRefused,
    PushRequest,
    Status,
)
from sms_delivery_exporter.config import Account, validation_problems
from sms_delivery_exporter.intake.items import ref_key
from sms_delivery_exporter.metrics import PushHealth
from sms_delivery_exporter.push.applier import PushApplier
from sms_delivery_exporter.push.events import dedupe_key, kept, restore
from sms_delivery_exporter.push.handshake import HandshakeNotKept, Handshakes
from sms_delivery_exporter.push.inbox import Inbox
from sms_delivery_exporter.store import NewPushEvent, StoreUnavailable

log = logging.getLogger(__name__)

MAX_BACKLOG = 100_000
"""Events kept but not applied yet beyond which calls are answered 503 (the provider retries)."""


class PushUnavailable(Exception):
    """Nothing of the call was kept: the store cannot commit, or the exporter is behind."""


@dataclass(frozen=True, slots=True)
class PushAnswer:
    accepted: int = 0
    duplicates: int = 0
    handshake: bool = False

    def body(self) -> bytes:
        """The answer's JSON (built by hand: it is every webhook call's)."""
        if self.handshake:
            return b'{"handshake": "received"}'
        return b'{"accepted": %d, "duplicates": %d}' % (self.accepted, self.duplicates)


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One account's webhook endpoint."""

    account: Account
    receiver: PushReceiver
    health: PushHealth
    max_body_bytes: int


class PushHost:
    """Every account's webhook endpoint, the inbox their events go to and their applier."""

    def __init__(
        self,
        *,
        accounts: Mapping[str, Account],
        inbox: Inbox,
        applier: PushApplier,
        handshakes: Handshakes,
        clock: Callable[[], float] = time.time,
        max_backlog: int = MAX_BACKLOG,
    ) -> None:
        self.inbox = inbox
        self.applier = applier
        self.handshakes = handshakes
        self._clock = clock
        self.max_backlog = max_backlog
        """Events kept and not applied yet beyond which calls are answered 503."""
        self.endpoints: dict[str, Endpoint] = {}
        for name, account in accounts.items():
            receiver_class = account.receiver
            if receiver_class is None or account.push is None:
                continue
            health = PushHealth(
                account.provider.name, name, refusal=f"bad_{receiver_class.credential}"
            )
            receiver = receiver_class(account.settings, account.push)
            self.endpoints[name] = Endpoint(account, receiver, health, account.push.max_body_bytes)

    @property
    def healths(self) -> dict[str, PushHealth]:
        return {name: endpoint.health for name, endpoint in self.endpoints.items()}

    async def receive(self, endpoint: Endpoint, request: PushRequest) -> PushAnswer:
        """Verify, read and keep one call; :class:`PushRefused`, :class:`PushMalformed` or
        :class:`PushUnavailable` say why nothing of it was kept."""
        health, name = endpoint.health, endpoint.account.name
        try:
            endpoint.receiver.verify(request)
        except PushRefused as refused:
            health.called(health.refusal)
            log.warning("webhook call refused", extra={"account": name, "reason": str(refused)})
            raise
        batch = self._read(endpoint, request)
        now = self._clock()
        if batch.handshake is not None:
            try:
                await self.handshakes.record(name, batch.handshake, now)
            except HandshakeNotKept as exc:
                health.called("unavailable")
                raise PushUnavailable(str(exc)) from None
            health.called("handshake")
            return PushAnswer(handshake=True)
        if self.applier.backlog >= self.max_backlog:
            health.called("unavailable")
            raise PushUnavailable(
                f"{self.applier.backlog} webhook events wait to be applied; send again later"
            )
        rows, fields = [], []
        for event in batch.events:
            key = ref_key(event.ref)
            kept_fields, text = kept(event, key)
            rows.append(NewPushEvent(name, dedupe_key(event, key), now, text))
            fields.append(kept_fields)
        try:
            ids = await self.inbox.keep(rows) if rows else []
        except StoreUnavailable as exc:
            health.called("unavailable")
            raise PushUnavailable(f"the store cannot commit now ({exc})") from None
        new = [
            restore(event_id, name, now, kept_fields)
            for event_id, kept_fields in zip(ids, fields, strict=True)
            if event_id is not None
        ]
        self.applier.enqueue(new)
        duplicates = len(rows) - len(new)
        health.called("accepted")
        health.counted("duplicate", duplicates)
        if rows:
            health.last_received = now
        return PushAnswer(len(new), duplicates)

    def _read(self, endpoint: Endpoint, request: PushRequest) -> PushBatch:
        """The plugin's reading of the body, checked: what it returns must be what it says."""
        health, name = endpoint.health, endpoint.account.name
        try:
            batch = endpoint.receiver.parse(request)
            _check(batch, endpoint.account)
        except PushMalformed:
            health.called("malformed")
            raise
        except ValidationError as exc:
            # A ref the body names is not one the provider's Ref model accepts.
            health.called("malformed")
            problems = "; ".join(
                f"{field}: {message}" for field, message in validation_problems(exc)
            )
            raise PushMalformed(f"a message the body names is not valid ({problems})") from None
        except Exception as exc:
            health.called("plugin_error")
            log.error(
                "a provider plugin failed on a webhook body",
                extra={"account": name, "error": type(exc).__name__},
            )
            raise PushMalformed(
                "the body could not be read (the provider plugin failed on it; it was logged)"
            ) from None
        return batch


def _check(batch: object, account: Account) -> None:
    """A plugin returns a PushBatch of events about its own refs, with canonical statuses."""
    if not isinstance(batch, PushBatch):
        raise TypeError("parse() did not return a PushBatch")
    for event in batch.events:
        if not isinstance(event, PushedEvent) or not isinstance(event.ref, account.provider.Ref):
            raise TypeError("parse() returned an event that is not a PushedEvent of its Ref")
        if not isinstance(event.observation.status, Status):
            raise TypeError("parse() returned an observation without a canonical status")

"""One account's synthetic canary: send, follow until final or the deadline, count.

Every ``interval`` (at least a minute: sending costs money) the canary sends
one message to the configured test number, then asks the provider's status
API about it at growing intervals until it is final or its ``deadline``
passes. Its outcome goes to the ``sms_canary_*`` metrics only: probe traffic
does not move the account's delivery ratios, and application alerts stay
about applications. Sends go through an HTTP client of their own (its own
one-call-at-a-time limit), so that a refused send never counts as a failing
status API; status checks share the account's rate limit and health.

The canary's results are in memory: a restart loses at most the one
canary in flight (counted neither way). The time of the last send is in
the store, so that no restart sends sooner than ``interval`` after it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from sms_delivery_exporter.api import (
    FAILURE_STATUSES,
    AnyProvider,
    Canary,
    CanarySendFailed,
    CanarySettings,
    ErrorKind,
    ProviderError,
    RefModel,
    RefReport,
    Status,
)
from sms_delivery_exporter.metrics import CanaryStats
from sms_delivery_exporter.store import Store, StoreError

log = logging.getLogger(__name__)

LAST_SEND = "canary:last_send"
"""The store key (beside discovery's feed cursors) of the account's last canary send."""
LEADER_CHECK = 15.0
"""Seconds between two looks at the leadership by a replica that does not send."""
FIRST_CHECK = 2.0
"""Seconds from a send to its first status check (at most a quarter of the deadline);
then doubling, up to a quarter of the deadline."""
_ERROR_REASONS = {
    ErrorKind.AUTH: "auth",
    ErrorKind.THROTTLED: "throttled",
    ErrorKind.TIMEOUT: "timeout",
    ErrorKind.CONNECTION: "connection",
    ErrorKind.BAD_RESPONSE: "bad_response",
}


class AccountCanary:
    """Sends and follows one account's canaries."""

    def __init__(
        self,
        *,
        account: str,
        settings: CanarySettings,
        canary: Canary,
        provider: AnyProvider,
        stats: CanaryStats,
        store: Store,
        leading: Callable[[], bool] = lambda: True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.account = account
        self.settings = settings
        self.canary = canary
        self.provider = provider
        self.stats = stats
        self._store = store
        self._leading = leading
        self._clock = clock
        # The furthest a provider reports on success: delivered, or sent where its API stops
        # there (sfmc_transactional).
        self._success = {Status.DELIVERED} | (
            provider.final_statuses - FAILURE_STATUSES - {Status.EXPIRED}
        )

    async def run(self) -> None:
        """One canary every ``interval``, the first as soon as the last send allows, until
        cancelled. The last send's time is kept in the store: restarts (even a crash loop)
        and a new leader never send more often than ``interval``."""
        while True:
            try:
                wait = await self.due_in()
                if wait <= 0 and self._leading():
                    await self._store.save_cursor(self.account, LAST_SEND, repr(self._clock()))
            except StoreError as exc:  # sending without a record could break the cap
                log.warning(
                    "canary waits for the store", extra={"account": self.account, "error": str(exc)}
                )
                wait = LEADER_CHECK
            if wait > 0:
                await asyncio.sleep(wait)
            elif not self._leading():
                await asyncio.sleep(min(self.settings.interval, LEADER_CHECK))
            else:
                await self.once()

    async def due_in(self) -> float:
        """Seconds until the next canary may be sent (0 or less: now), from the store."""
        text = await self._store.cursor(self.account, LAST_SEND)
        try:
            last = float(text) if text else None
        except ValueError:
            last = None
        return 0.0 if last is None else last + self.settings.interval - self._clock()

    async def once(self) -> str:
        """Send one canary and follow it to its result (one of ``CANARY_RESULTS``)."""
        sent_at = self._clock()
        try:
            ref = await self.canary.send()
        except CanarySendFailed as refused:
            return self._send_failed(refused.reason, str(refused))
        except ProviderError as error:
            return self._send_failed(_ERROR_REASONS.get(error.kind, "other"), str(error))
        except Exception as exc:  # a plugin bug: counted and logged, never fatal
            log.exception("canary send crashed", extra={"account": self.account})
            return self._send_failed("other", type(exc).__name__)
        self.stats.sent += 1
        result, latency = await self._follow(ref, sent_at)
        self.stats.finished(result, latency=latency, at=self._clock())
        if result != "delivered":
            log.warning("canary not delivered", extra={"account": self.account, "result": result})
        return result

    def _send_failed(self, reason: str, message: str) -> str:
        self.stats.send_error(reason)
        log.warning(
            "canary send failed",
            extra={"account": self.account, "reason": reason, "error": message},
        )
        return "send_error"

    async def _follow(self, ref: RefModel, sent_at: float) -> tuple[str, float | None]:
        """(result, latency if delivered in time) of a sent canary."""
        span = self.settings.deadline
        deadline = sent_at + span
        wait = min(FIRST_CHECK, span / 4)
        while True:
            # The last check is at the deadline itself: a canary delivered in time is seen.
            await asyncio.sleep(max(0.0, min(wait, deadline - self._clock())))
            wait = min(wait * 2, max(span / 4, FIRST_CHECK))
            result = await self._check(ref, sent_at)
            if result is not None:
                return result
            if self._clock() >= deadline:
                return "timeout", None

    async def _check(self, ref: RefModel, sent_at: float) -> tuple[str, float | None] | None:
        """The canary's result if its status says one, else None (not final, or no answer)."""
        try:
            outcomes = await self.provider.fetch([ref])
        except ProviderError:
            return None  # the status API's trouble is the poller's to report
        report = outcomes[0] if outcomes else None
        if not isinstance(report, RefReport) or not report.observations:
            return None  # not known yet (a 404 right after the send)
        return self._result(report, sent_at)

    def _result(self, report: RefReport, sent_at: float) -> tuple[str, float | None] | None:
        statuses = {o.status for o in report.observations}
        for seen in report.observations:
            if seen.status in self._success:
                # The provider's clocks where it gives them: the check's own time follows
                # the canary's check schedule, not the handset.
                end = seen.changed_at if seen.changed_at is not None else self._clock()
                start = seen.accepted_at if seen.accepted_at is not None else sent_at
                latency = max(0.0, end - start)
                in_time = end <= sent_at + self.settings.deadline
                return ("delivered", latency) if in_time else ("timeout", None)
        if statuses and statuses <= {Status.UNDELIVERED, Status.REJECTED, Status.EXPIRED}:
            return "failed", None
        return None

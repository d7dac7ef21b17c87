"""A simulated API's misbehaviour: which requests fail, and how they are answered."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sms_delivery_exporter.testing.messages import MessageFactory


class Faults:
    """Decides per request whether the simulated API misbehaves."""

    def __init__(self, factory: MessageFactory) -> None:
        self._factory = factory
        self.served: Counter[str] = Counter()
        """How many answers of each fault kind were served, for tests to compare with metrics."""

    def draw(self) -> str | None:
        """``throttle``, ``blocked``, ``error``, ``malformed``, ``slow`` or None."""
        s, rng = self._factory.scenario, self._factory.rng
        roll = rng.random()
        for kind, rate in (
            ("throttle", s.throttle_rate),
            ("blocked", s.blocked_rate),
            ("error", s.error_rate),
            ("malformed", s.malformed_rate),
            ("slow", s.slow_rate),
        ):
            if roll < rate:
                self.served[kind] += 1
                return kind
            roll -= rate
        return None

    async def slow_down(self) -> None:
        await asyncio.sleep(self._factory.scenario.slow_seconds)

    async def answer(self, answers: FaultAnswers) -> web.Response | None:
        """Draw this request's fault and answer it in the provider's own bodies; None to proceed.

        A slow fault delays the request and then lets it proceed.
        """
        if self._factory.scenario.answer_delay:
            # An API that takes its time: concurrent calls overlap, as they do in production.
            await asyncio.sleep(self._factory.scenario.answer_delay)
        fault = self.draw()
        if fault is None:
            return None
        if fault == "slow":
            await self.slow_down()
            return None
        if fault == "malformed":
            return web.Response(text=answers.malformed, content_type="application/json")
        if fault == "error":
            status, body = answers.error
            return web.json_response(body, status=status)
        if fault == "blocked" and answers.blocked is not None:
            status, body = answers.blocked
            return web.json_response(body, status=status)
        status, body = answers.throttle
        retry = self._factory.scenario.retry_after
        return web.json_response(body, status=status, headers={"Retry-After": f"{retry:g}"})


@dataclass(frozen=True, slots=True)
class FaultAnswers:
    """How one provider's API answers each fault: (HTTP status, JSON body)."""

    throttle: tuple[int, Any]
    """Sent with the scenario's Retry-After."""
    error: tuple[int, Any]
    malformed: str
    """A truncated JSON text."""
    blocked: tuple[int, Any] | None = None
    """An 'account blocked' answer (no Retry-After); None where the API has none (then a 429)."""

"""A kit for provider simulators: scenarios, message lifecycles, faults and ground truth.

Each plugin's simulator renders these lifecycles in its provider's own JSON;
what is shared is when a message moves, how it ends, and what really
happened, so tests compare the exporter's metrics with the truth.
A message's whole timeline is drawn when it is created: no background task
moves it, so a simulator holds a million messages cheaply.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

Clock = Callable[[], float]


class DemoSimulator(Protocol):
    """What the demo and the end-to-end tests need of a provider's simulator."""

    factory: MessageFactory
    """Its scenario is ``factory.scenario``; replace it to change what new messages do."""
    faults: Faults
    """The scenario's misbehaviour, and a count of what it served."""

    def app(self) -> web.Application:
        """The simulated API, control endpoints included."""

    def demo_send(self) -> dict[str, str]:
        """Send one ref's worth of messages; return the ref fields to register."""

    def account_options(self, base_url: str) -> dict[str, Any]:
        """An account's config block (without ``provider``) pointing at this simulator."""

    def truth(self) -> dict[str, Any]:
        """What really happened, as far as this provider's API can show it (see :func:`truth`)."""


class Scenario(BaseModel):
    """How simulated messages behave and how the simulated API misbehaves."""

    model_config = ConfigDict(extra="forbid")

    delivered: float = Field(0.90, ge=0, description="share of messages delivered")
    undelivered: float = Field(0.06, ge=0, description="share the carrier fails")
    rejected: float = Field(0.04, ge=0, description="share the provider refuses")
    stuck: float = Field(0.0, ge=0, description="share that never reaches a final status")
    reasons: dict[str, float] = Field(
        default_factory=lambda: {
            "unreachable": 3.0,
            "number_blocked": 2.0,
            "unknown_subscriber": 1.0,
        },
        description="weights of failure reasons (the plugin's canonical names)",
    )
    rejected_reasons: dict[str, float] | None = Field(
        None, description="weights of reasons for rejected messages, when not those of `reasons`"
    )
    queue_seconds: float = Field(0.3, ge=0, description="time from acceptance to sent")
    latency_median: float = Field(4.0, gt=0, description="median seconds from acceptance to final")
    latency_sigma: float = Field(0.6, ge=0, description="log-normal shape of that latency")
    latency_max: float = Field(3600.0, gt=0, description="latencies are capped here")
    rcs_share: float = Field(0.0, ge=0, le=1, description="share of messages sent as RCS")
    read_share: float = Field(0.0, ge=0, le=1, description="share of delivered RCS that is read")
    read_delay: float = Field(5.0, ge=0, description="median seconds from delivery to read")
    segments: dict[int, float] = Field(default_factory=lambda: {1: 0.8, 2: 0.15, 3: 0.05})
    throttle_rate: float = Field(0.0, ge=0, le=1, description="share of requests answered 429")
    retry_after: float = Field(1.0, ge=0, description="Retry-After of those 429s")
    blocked_rate: float = Field(
        0.0, ge=0, le=1, description="share answered 'account blocked' where the API has it"
    )
    error_rate: float = Field(0.0, ge=0, le=1, description="share answered with a 5xx")
    malformed_rate: float = Field(0.0, ge=0, le=1, description="share answered with broken JSON")
    slow_rate: float = Field(0.0, ge=0, le=1, description="share answered only after slow_seconds")
    slow_seconds: float = Field(30.0, ge=0)
    seed: int | None = None

    @model_validator(mode="after")
    def _has_outcomes(self) -> Scenario:
        if self.delivered + self.undelivered + self.rejected + self.stuck <= 0:
            raise ValueError("at least one outcome share must be positive")
        if (self.undelivered or self.rejected) and not self.reasons:
            raise ValueError("failures need at least one reason")
        return self


@dataclass(slots=True)
class SimMessage:
    """One simulated message and its whole future."""

    id: str
    accepted_at: float
    channel: str
    segments: int
    stages: list[tuple[float, str]]
    """(absolute time, stage): queued, sent, delivered, undelivered, rejected, read."""
    reason: str | None = None
    number: str = ""
    reference: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def stage_at(self, now: float) -> tuple[str, float]:
        """The stage at a time, and when it began."""
        current = self.stages[0]
        for stage in self.stages:
            if stage[0] > now:
                break
            current = stage
        return current[1], current[0]

    @property
    def fate(self) -> str:
        """The last stage that is a status (read is an event after delivery)."""
        statuses = [stage for _, stage in self.stages if stage != "read"]
        return statuses[-1]

    @property
    def delivered_at(self) -> float | None:
        return next((when for when, stage in self.stages if stage == "delivered"), None)

    @property
    def read_at(self) -> float | None:
        return next((when for when, stage in self.stages if stage == "read"), None)


FINAL_STAGES = frozenset({"delivered", "undelivered", "rejected"})


class MessageFactory:
    """Draws messages from a scenario."""

    def __init__(self, scenario: Scenario, clock: Clock = time.time) -> None:
        self.scenario = scenario
        self.clock = clock
        self.rng = random.Random(scenario.seed)

    def create(
        self, *, channel: str | None = None, number: str = "", reference: str = ""
    ) -> SimMessage:
        s, rng = self.scenario, self.rng
        now = self.clock()
        if channel is None:
            channel = "rcs" if rng.random() < s.rcs_share else "sms"
        fate = rng.choices(
            ["delivered", "undelivered", "rejected", "stuck"],
            [s.delivered, s.undelivered, s.rejected, s.stuck],
        )[0]
        sent_at = now + s.queue_seconds
        stages = [(now, "queued")]
        reason = None
        if fate == "rejected":
            stages.append((sent_at, "rejected"))
        else:
            stages.append((sent_at, "sent"))
        if fate in ("delivered", "undelivered"):
            latency = min(
                s.latency_median * math.exp(s.latency_sigma * rng.gauss(0, 1)), s.latency_max
            )
            final_at = max(now + latency, sent_at)
            stages.append((final_at, fate))
            if fate == "delivered" and channel == "rcs" and rng.random() < s.read_share:
                stages.append((final_at + rng.expovariate(1 / max(s.read_delay, 1e-3)), "read"))
        if fate in ("undelivered", "rejected"):
            mix = s.rejected_reasons if fate == "rejected" and s.rejected_reasons else s.reasons
            reason = rng.choices(list(mix), list(mix.values()))[0]
        segments = rng.choices(list(s.segments), list(s.segments.values()))[0]
        return SimMessage(
            id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            accepted_at=now,
            channel=channel,
            segments=segments,
            stages=stages,
            reason=reason,
            number=number or f"+3933{rng.randrange(10**8):08d}",
            reference=reference,
        )


def truth(
    messages: list[SimMessage],
    now: float,
    *,
    fate_of: Callable[[SimMessage], str] | None = None,
    reason_of: Callable[[SimMessage], str | None] | None = None,
    final_stages: frozenset[str] = FINAL_STAGES,
    segments: bool = True,
    latency: bool = True,
) -> dict[str, Any]:
    """What really happened to the messages, in the terms of the exporter's metrics.

    ``fate_of`` gives what the provider's API can show (an API that stops at
    "sent" shows delivered and undelivered messages as sent); the counts of
    segments and latencies are left out where the API does not report them.
    """
    final: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    cost = 0.0
    segment_count = 0
    delivered_latencies: list[float] = []
    reads = 0
    open_count = 0
    for message in messages:
        fate = fate_of(message) if fate_of is not None else message.fate
        if fate not in final_stages:
            open_count += 1
            continue
        final[fate] += 1
        cost += float(message.details.get("cost", 0.0))
        if segments:
            segment_count += message.segments
        reason = reason_of(message) if reason_of is not None else message.reason
        if reason is not None and fate in ("undelivered", "rejected"):
            reasons[f"{fate}/{reason}"] += 1
        if latency and fate == "delivered" and message.delivered_at is not None:
            delivered_latencies.append(message.delivered_at - message.accepted_at)
        if message.read_at is not None:
            reads += 1
    return {
        "messages": len(messages),
        "final": dict(final),
        "reasons": dict(reasons),
        "segments": segment_count,
        "cost": cost,
        "reads": reads,
        "never_final": open_count,
        "delivered_latencies": delivered_latencies,
    }


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


class SimulatorBase:
    """What every simulator holds (clock, scenario, faults, request count) and the
    ``/_sim/`` endpoints it serves: ground truth, stats, scenario swap.

    A simulator subclasses it, calls ``super().__init__`` and implements ``truth()``.
    """

    def __init__(self, scenario: Scenario, clock: Clock) -> None:
        self.clock = clock
        self.factory = MessageFactory(scenario, clock)
        self.faults = Faults(self.factory)
        self.requests = 0

    def truth(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_control_routes(self, app: web.Application) -> None:
        app.router.add_get("/_sim/truth", self._truth_route)
        app.router.add_get("/_sim/stats", self._stats_route)
        app.router.add_put("/_sim/scenario", self._scenario_route)

    async def _truth_route(self, request: web.Request) -> web.Response:
        return web.json_response(self.truth())

    async def _stats_route(self, request: web.Request) -> web.Response:
        return web.json_response({"requests": self.requests})

    async def _scenario_route(self, request: web.Request) -> web.Response:
        self.factory.scenario = Scenario.model_validate(await read_json_body(request))
        return web.json_response(self.factory.scenario.model_dump())


async def read_json_body(request: web.Request) -> Any:
    """The body of a control request, or a 400 naming the problem."""
    try:
        return await request.json()
    except ValueError as exc:
        raise web.HTTPBadRequest(text=f"body is not JSON: {exc}") from None

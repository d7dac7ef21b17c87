"""Simulated messages: each one's whole timeline is drawn when it is created.

No background task moves a message, so a simulator holds a million of them cheaply.
"""

from __future__ import annotations

import math
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sms_delivery_exporter.testing.scenario import Scenario

Clock = Callable[[], float]


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

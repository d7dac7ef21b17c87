"""API economy and accuracy: the adaptive schedule against fixed 5-second polling.

Deliveries drawn from a realistic scenario (log-normal latency, median 8 s,
1% after 10 minutes). Each message is polled on the schedule in virtual time
through the exporter's own code (``ScheduleSettings.interval_after`` and the
``Tracker`` that turns polls into a latency), so the figures are those of the
real exporter, without waiting the hours the tail of the distribution takes.
"""

from __future__ import annotations

import json
import math
import statistics
from typing import Any

from sms_delivery_exporter.api import Observation, RefReport, ScheduleSettings, Status
from sms_delivery_exporter.outcomes.catalogue import LATENCY_SUM
from sms_delivery_exporter.polling.tracker import AccountRules, Tracker
from sms_delivery_exporter.store import DueRef
from sms_delivery_exporter.testing import MessageFactory, Scenario

MESSAGES = 20_000
MEDIAN = 8.0
TAIL_SHARE, TAIL_AFTER = 0.01, 600.0
SIGMA = (math.log(TAIL_AFTER) - math.log(MEDIAN)) / 2.326  # the 99th percentile at 10 minutes
FIXED_5S = ScheduleSettings(first_poll=5, initial_interval=5, growth=1, max_interval=5)


def latencies(count: int = MESSAGES, seed: int = 7) -> list[float]:
    scenario = Scenario(
        delivered=1,
        undelivered=0,
        rejected=0,
        queue_seconds=0,
        latency_median=MEDIAN,
        latency_sigma=SIGMA,
        latency_max=1e9,
        seed=seed,
    )
    factory = MessageFactory(scenario, clock=lambda: 0.0)
    return [
        delivered
        for m in (factory.create() for _ in range(count))
        if (delivered := m.delivered_at) is not None
    ]


def observe(schedule: ScheduleSettings, truth: list[float]) -> dict[str, float]:
    """Calls per message until delivered, and the error of the observed latency."""
    tracker = Tracker(
        AccountRules(
            provider="sim",
            account="sim",
            schedule=schedule.model_copy(update={"tracking_window": 1e9}),
            reasons=frozenset(),
        )
    )
    calls: list[int] = []
    errors: list[float] = []
    for latency in truth:
        row = DueRef(1, "", "", 0.0, 0, None, "")
        now = schedule.first_poll
        while True:
            status = Status.DELIVERED if now >= latency else Status.SENT
            report = RefReport([Observation(key="", status=status, provider_status=status.value)])
            update, deltas = tracker.report(row, report, now)
            if update.next_poll_at is None:
                observed = next(amount for name, _, amount in deltas if name == LATENCY_SUM)
                calls.append(update.polls)
                errors.append(abs(observed - latency) / latency)
                break
            row = DueRef(1, "", "", 0.0, update.polls, update.last_poll_at, update.state)
            now = update.next_poll_at
    return {
        "calls_per_message": round(statistics.mean(calls), 2),
        "median_relative_error": round(statistics.median(errors), 3),
        "p90_relative_error": round(statistics.quantiles(errors, n=10)[-1], 3),
    }


def run() -> dict[str, Any]:
    truth = latencies()
    adaptive = observe(ScheduleSettings(), truth)
    fixed = observe(FIXED_5S, truth)
    return {
        "messages": len(truth),
        "latency": {"median_s": MEDIAN, "p99_s": TAIL_AFTER, "sigma": round(SIGMA, 3)},
        "adaptive_default": {**adaptive, "schedule": ScheduleSettings().model_dump(mode="json")},
        "fixed_5s": fixed,
        "calls_ratio": round(adaptive["calls_per_message"] / fixed["calls_per_message"], 3),
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))

"""Ground truth: what really happened to simulated messages, in the terms of the metrics."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from sms_delivery_exporter.testing.messages import FINAL_STAGES, SimMessage


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

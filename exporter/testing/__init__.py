"""The simulator kit: what a provider's simulator is built from, for tests and the demo.

A declared testing module, never imported by production code (the import
contracts in pyproject.toml enforce it): a provider's simulator module and
tests use it, and ``sms-delivery-exporter demo`` loads simulators through the
``sms_delivery_exporter.simulators`` entry-point group. Each simulator renders
the shared lifecycles in its provider's own JSON; what is shared is when a
message moves, how it ends, how the API misbehaves and what really happened,
so tests compare the exporter's metrics with the truth.
"""

from __future__ import annotations

from sms_delivery_exporter.testing.faults import FaultAnswers, Faults
from sms_delivery_exporter.testing.messages import FINAL_STAGES, Clock, MessageFactory, SimMessage
from sms_delivery_exporter.testing.ports import free_port
from sms_delivery_exporter.testing.pusher import Pusher
from sms_delivery_exporter.testing.scenario import Scenario
from sms_delivery_exporter.testing.simulator import (
    SIMULATORS_GROUP,
    Call,
    DemoSimulator,
    SimulatorBase,
    demo_simulators,
    read_json_body,
)
from sms_delivery_exporter.testing.truth import truth

__all__ = [
    "FINAL_STAGES",
    "SIMULATORS_GROUP",
    "Call",
    "Clock",
    "DemoSimulator",
    "FaultAnswers",
    "Faults",
    "MessageFactory",
    "Pusher",
    "Scenario",
    "SimMessage",
    "SimulatorBase",
    "demo_simulators",
    "free_port",
    "read_json_body",
    "truth",
]

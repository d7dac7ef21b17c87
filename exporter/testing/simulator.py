"""What every simulator has, and what the demo and the end-to-end tests need of one."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from sms_delivery_exporter.testing.faults import Faults
from sms_delivery_exporter.testing.messages import Clock, MessageFactory
from sms_delivery_exporter.testing.scenario import Scenario

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Call:
    """One API call a simulator received: when it arrived, what it asked, what it got."""

    arrived: float
    method: str
    path: str
    status: int


class DemoSimulator(Protocol):
    """What the demo and the end-to-end tests need of a provider's simulator."""

    factory: MessageFactory
    """Its scenario is ``factory.scenario``; replace it to change what new messages do."""
    faults: Faults
    """The scenario's misbehaviour, and a count of what it served."""
    calls: list[Call]
    """Every API call it received."""

    def app(self) -> web.Application:
        """The simulated API, control endpoints included."""

    def demo_send(self) -> dict[str, str]:
        """Send one ref's worth of messages; return the ref fields to register."""

    def account_options(self, base_url: str) -> dict[str, Any]:
        """An account's config block (without ``provider``) pointing at this simulator."""

    def truth(self) -> dict[str, Any]:
        """What really happened, as far as this provider's API can show it (see :func:`truth`)."""

    def push_options(self) -> dict[str, Any] | None:
        """The account's ``push:`` block matching this simulator's webhooks; None without push."""

    def push_to(self, url: str) -> None:
        """Post webhooks of messages sent from now on to ``url`` (``/api/v1/push/{account}``)."""


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        self.calls: list[Call] = []
        """Every API call (not ``/_sim/``), in order of arrival, for tests of pacing and pauses."""

    def truth(self) -> dict[str, Any]:
        raise NotImplementedError

    def push_options(self) -> dict[str, Any] | None:
        """No webhooks, unless a simulator of a provider with push says otherwise."""
        return None

    def push_to(self, url: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} does not post webhooks")

    def add_control_routes(self, app: web.Application) -> None:
        app.middlewares.append(self._log_calls)
        app.router.add_get("/_sim/truth", self._truth_route)
        app.router.add_get("/_sim/stats", self._stats_route)
        app.router.add_put("/_sim/scenario", self._scenario_route)

    @web.middleware
    async def _log_calls(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.path.startswith("/_sim/"):
            return await handler(request)
        arrived = self.clock()
        response = await handler(request)
        self.calls.append(Call(arrived, request.method, request.path, response.status))
        return response

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


SIMULATORS_GROUP = "sms_delivery_exporter.simulators"
"""Entry-point group: provider name = a callable returning that provider's demo simulator."""


def demo_simulators() -> dict[str, Callable[[], DemoSimulator]]:
    """Every installed provider's demo simulator factory, by provider name.

    One that fails to load is logged and skipped: the demo runs the others.
    """
    factories: dict[str, Callable[[], DemoSimulator]] = {}
    for entry_point in importlib.metadata.entry_points(group=SIMULATORS_GROUP):
        try:
            factories[entry_point.name] = entry_point.load()
        except Exception as exc:
            log.warning(
                "skipping a simulator that failed to load",
                extra={"simulator": entry_point.name, "error": f"{type(exc).__name__}: {exc}"},
            )
    return factories

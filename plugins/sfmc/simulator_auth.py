"""The SFMC token endpoints and token checks, shared by both SFMC simulators.

Counts token requests, so tests can show that tokens are cached and not
stampeded; can expire every token at once, so tests can show the 401 retry.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from aiohttp import web

from sms_delivery_exporter.testing import FaultAnswers, Faults, Scenario, SimulatorBase

NOT_AUTHORIZED = {
    "message": "Not Authorized",
    "errorcode": 0,
    "documentation": "https://developer.salesforce.com/docs/atlas.en-us.mc-apis.meta/mc-apis/error-handling.htm",
}


class SfmcAuthSimulator:
    """Issues and checks tokens for one installed package."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        clock: Callable[[], float],
        lifetime: float = 1080.0,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.lifetime = lifetime
        self.tokens: dict[str, float] = {}
        self.token_calls = 0
        self.legacy_token_calls = 0

    def add_routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/token", self._v2_token)
        app.router.add_post("/v1/requestToken", self._legacy_token)

    def account_options(self, base_url: str) -> dict[str, Any]:
        """An account block (without ``provider``) that gets its tokens from this simulator."""
        return {
            "auth_url": f"{base_url}/v2/token",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "rate_limit": 50,
            "concurrency": 4,
            "schedule": {"first_poll": "1s", "initial_interval": "1s", "max_interval": "10s"},
        }

    def expire_all(self) -> None:
        """Every issued token stops working now (as after a rotation)."""
        self.tokens.clear()

    def authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else None
        token = token or request.query.get("access_token")
        expires = self.tokens.get(token or "")
        return expires is not None and expires > self.clock()

    def _issue(self, lifetime: float) -> str:
        token = secrets.token_urlsafe(24)
        self.tokens[token] = self.clock() + lifetime
        return token

    async def _v2_token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        body = await _json(request)
        if body.get("grant_type") != "client_credentials":
            return web.json_response(
                {"error": "unsupported_grant_type", "error_description": "Use client_credentials."},
                status=400,
            )
        if (
            body.get("client_id") != self.client_id
            or body.get("client_secret") != self.client_secret
        ):
            return web.json_response(
                {"error": "invalid_client", "error_description": "Invalid client ID."}, status=401
            )
        base = str(request.url.origin())
        return web.json_response(
            {
                "access_token": self._issue(self.lifetime),
                "token_type": "Bearer",
                "expires_in": int(self.lifetime),
                "scope": body.get("scope") or "sms_read sms_send",
                "soap_instance_url": f"{base}/soap/",
                "rest_instance_url": f"{base}/",
            }
        )

    async def _legacy_token(self, request: web.Request) -> web.Response:
        self.legacy_token_calls += 1
        body = await _json(request)
        if body.get("clientId") != self.client_id or body.get("clientSecret") != self.client_secret:
            return web.json_response(
                {"message": "Unauthorized", "errorcode": 1, "documentation": ""}, status=401
            )
        return web.json_response({"accessToken": self._issue(3600.0), "expiresIn": 3600})


class SfmcSimulatorBase(SimulatorBase):
    """A simulator of an SFMC API: the shared parts plus the token endpoints' state."""

    def __init__(
        self,
        scenario: Scenario,
        clock: Callable[[], float],
        client_id: str,
        client_secret: str | None,
    ) -> None:
        super().__init__(scenario, clock)
        self.auth = SfmcAuthSimulator(
            client_id=client_id,
            client_secret=client_secret or secrets.token_urlsafe(16),
            clock=clock,
        )

    def account_options(self, base_url: str) -> dict[str, Any]:
        return self.auth.account_options(base_url)


async def _json(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


FAULT_ANSWERS = FaultAnswers(
    throttle=(429, {"message": "Too many requests", "errorcode": 50100, "documentation": ""}),
    blocked=(
        429,
        {"message": "Account temporarily blocked", "errorcode": 50200, "documentation": ""},
    ),
    error=(500, {"message": "Internal Server Error", "errorcode": 0}),
    malformed='{"requestId": "',
)


async def refusal(
    request: web.Request, auth: SfmcAuthSimulator, faults: Faults
) -> web.Response | None:
    """Auth, then the scenario's faults, in SFMC's own error bodies; None to proceed."""
    if not auth.authorized(request):
        return web.json_response(NOT_AUTHORIZED, status=401)
    return await faults.answer(FAULT_ANSWERS)

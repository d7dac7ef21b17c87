"""Basic auth for every endpoint, from ``basic_auth_users`` (bcrypt hashes) of the web config.

bcrypt is slow on purpose (tens of milliseconds at cost 10): it runs on a
thread, two at most at once, never on the event loop; a successful check is
remembered (as a SHA-256 of the credentials, never the password) so that a
scrape every few seconds costs one bcrypt in all. An unknown user costs a
bcrypt too, so timing does not tell which users exist. The intake, when it has
a token, is authenticated by its bearer token instead: one ``Authorization``
header cannot carry both.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
from collections.abc import Awaitable, Callable, Mapping

import bcrypt
from aiohttp import web
from pydantic import SecretStr

from sms_delivery_exporter.web.responses import json_error

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CACHE_SIZE = 64
_DUMMY = bcrypt.hashpw(b"no such user", bcrypt.gensalt(10))


class BasicAuth:
    """The middleware: 401 unless the request carries a configured user's password."""

    def __init__(
        self, users: Mapping[str, SecretStr], exempt: Callable[[web.Request], bool]
    ) -> None:
        self._users = {
            user.encode(): hashed.get_secret_value().encode() for user, hashed in users.items()
        }
        self._exempt = exempt
        self._verified: dict[bytes, None] = {}
        self._slots = asyncio.Semaphore(2)

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if self._exempt(request) or await self.allowed(request.headers.get("Authorization")):
            return await handler(request)
        return json_error(
            401,
            "authentication required (basic auth, see the web config's basic_auth_users)",
            headers={"WWW-Authenticate": 'Basic realm="sms-delivery-exporter", charset="UTF-8"'},
        )

    async def allowed(self, header: str | None) -> bool:
        scheme, _, encoded = (header or "").strip().partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            decoded = base64.b64decode(
                encoded.strip().encode("utf-8", "surrogateescape"), validate=True
            )
        except (binascii.Error, ValueError):
            return False
        user, colon, password = decoded.partition(b":")
        hashed = self._users.get(user)
        if not colon or hashed is None:
            await self._check(password, _DUMMY)
            return False
        key = hashlib.sha256(user + b"\0" + password + b"\0" + hashed).digest()
        if key in self._verified:
            return True
        if not await self._check(password, hashed):
            return False
        if len(self._verified) >= CACHE_SIZE:
            self._verified.pop(next(iter(self._verified)))
        self._verified[key] = None
        return True

    async def _check(self, password: bytes, hashed: bytes) -> bool:
        async with self._slots:
            try:
                return await asyncio.to_thread(bcrypt.checkpw, password, hashed)
            except ValueError:
                return False

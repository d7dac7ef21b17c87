"""OAuth2 tokens for one SFMC account: fetched once, shared by every poll, renewed before expiry.

Concurrent polls that find no valid token wait on one request to the token
endpoint instead of each sending their own (no stampede), and share its
outcome: when that request fails, those waiting get its error rather than
each asking again. A 401 on a call drops the token it used, so the retry
gets a fresh one.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    HttpResponse,
    ProviderError,
    ProviderHttp,
    Throttled,
    TransientError,
)

log = logging.getLogger(__name__)

RENEW_FRACTION = 0.1
"""A token is renewed when this share of its lifetime is left..."""
RENEW_MARGIN_CAP = 60.0
"""...but never more than this many seconds before it expires.

A fixed margin would leave no use of a token that lives a minute or less;
a proportional one lets every token serve most of its life."""


@dataclass(frozen=True, slots=True)
class Token:
    value: str
    expires_at: float
    rest_url: str | None = None
    renew_at: float = 0.0
    """When to ask for the next one."""


def _expiring(value: str, now: float, lifetime: float, rest_url: str | None = None) -> Token:
    """A token renewed when a tenth of its lifetime is left, at most a minute before it expires."""
    margin = min(lifetime * RENEW_FRACTION, RENEW_MARGIN_CAP)
    return Token(value, now + lifetime, rest_url, now + lifetime - margin)


TokenParser = Callable[[Any, float], Token]
_TOKEN = re.compile(r"[!-~]{1,8192}")
"""A token goes into a header: visible ASCII only (a control character would make it two)."""


def _token(value: object, field: str) -> str:
    if not isinstance(value, str) or not _TOKEN.fullmatch(value):
        raise BadResponse(f"token answer has no usable {field}")
    return value


def parse_v2_token(body: Any, now: float) -> Token:
    """``{access_token, expires_in, rest_instance_url, ...}`` of ``/v2/token``."""
    if not isinstance(body, dict):
        raise BadResponse("token answer is not a JSON object")
    value = _token(body.get("access_token"), "access_token")
    expires_in = body.get("expires_in", 1080)
    if not isinstance(expires_in, int | float) or not 0 < expires_in < math.inf:
        raise BadResponse("token answer has no usable expires_in")
    rest_url = body.get("rest_instance_url")
    return _expiring(
        value,
        now,
        float(expires_in),
        rest_url.rstrip("/") if isinstance(rest_url, str) and rest_url else None,
    )


def parse_legacy_token(body: Any, now: float) -> Token:
    """``{accessToken, expiresIn}`` of the legacy ``/v1/requestToken``."""
    if not isinstance(body, dict):
        raise BadResponse("legacy token answer is not a JSON object")
    value = _token(body.get("accessToken"), "accessToken")
    expires_in = body.get("expiresIn", 3600)
    if not isinstance(expires_in, int | float) or not 0 < expires_in < math.inf:
        raise BadResponse("legacy token answer has no usable expiresIn")
    return _expiring(value, now, float(expires_in))


class TokenSource:
    """The account's current token."""

    def __init__(
        self,
        http: ProviderHttp,
        *,
        url: str,
        body: Mapping[str, str],
        parse: TokenParser,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http
        self._url = url
        self._body = dict(body)
        self._parse = parse
        self._clock = clock
        self._token: Token | None = None
        self._lock = asyncio.Lock()
        self._requests = 0
        self._failure: ProviderError | None = None

    async def get(self) -> Token:
        """The current token, renewed first when its time has come."""
        token = self._token
        if token is not None and token.renew_at > self._clock():
            return token
        requests_before = self._requests
        async with self._lock:
            # Another poll may have renewed it while this one waited...
            token = self._token
            if token is not None and token.renew_at > self._clock():
                return token
            # ...or failed to: then this one fails the same way, without asking again.
            if self._requests != requests_before and self._failure is not None:
                raise self._failure
            return await self._renew()

    async def refresh(self) -> Token:
        """A new token now, whatever the current one: a check of the credentials."""
        async with self._lock:
            return await self._renew()

    async def _renew(self) -> Token:
        self._requests += 1
        try:
            token = await self._request()
        except ProviderError as error:
            self._failure = error
            log.debug("token request failed", extra={"kind": error.kind})
            raise
        self._failure = None
        self._token = token
        now = self._clock()
        log.debug(
            "token renewed",
            extra={
                "lifetime": round(token.expires_at - now, 1),
                "renew_in": round(token.renew_at - now, 1),
            },
        )
        return token

    def invalidate(self, token: Token) -> None:
        """The API refused this token: forget it (unless a newer one replaced it already)."""
        if self._token is token:
            self._token = None

    async def _request(self) -> Token:
        response = await self._http.request("POST", self._url, json_body=self._body)
        if response.status == 200:
            return self._parse(response.json(), self._clock())
        if response.status in (400, 401, 403):
            raise AuthFailed(
                f"the token endpoint refused the client credentials (HTTP {response.status})"
            )
        if response.status == 429:
            raise throttled(response)
        if response.status >= 500:
            raise TransientError(f"the token endpoint answered HTTP {response.status}")
        raise BadResponse(f"unexpected HTTP {response.status} from the token endpoint")


BLOCKED_ERRORCODE = 50200
"""429 with this errorcode: the account is blocked for a while, not merely throttled."""


def call_error(response: HttpResponse) -> ProviderError:
    """The error for an answer neither 200 nor one the endpoint gives its own meaning."""
    status = response.status
    if status == 403:
        return AuthFailed("SFMC refused the call (HTTP 403): does the package have sms_read?")
    if status == 429:
        return throttled(response)
    if status >= 500:
        return TransientError(f"SFMC answered HTTP {status}")
    return BadResponse(f"unexpected HTTP {status} from SFMC")


def throttled(response: HttpResponse) -> Throttled:
    """The error for an SFMC 429: a short pause (50100) or a blocked account (50200)."""
    try:
        body = response.json()
    except BadResponse:
        body = None
    code = body.get("errorcode") if isinstance(body, dict) else None
    if code == BLOCKED_ERRORCODE or str(code) == str(BLOCKED_ERRORCODE):
        return Throttled(
            "SFMC says the account is blocked (errorcode 50200)",
            blocked=True,
            retry_after=response.retry_after(),
        )
    return Throttled("SFMC answered 429", retry_after=response.retry_after())

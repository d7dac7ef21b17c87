"""The HTTP client the host gives each account's provider.

It paces requests under the account's rate limit, applies the timeout, and
reports every call (status code or error kind, duration) to the host, so a
provider never touches metrics. URLs are never logged or put in errors: some
providers carry tokens in query strings.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from sms_delivery_exporter.api.errors import BadResponse, ErrorKind, TransientError

CallObserver = Callable[[str, float], None]
"""Called once per request with (code, seconds): the HTTP status or an error kind."""


class Pacer(Protocol):
    """The account's rate limit, as the host gives it to :class:`ProviderHttp`."""

    def reserve(self) -> float:
        """Take the next request slot; the seconds to wait before using it."""


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class HttpResponse:
    """A fully read response."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or :class:`BadResponse` naming what is wrong."""
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadResponse(f"HTTP {self.status} body is not valid JSON: {exc}") from None
        except RecursionError:
            raise BadResponse(f"HTTP {self.status} body is nested too deeply") from None

    def retry_after(self) -> float | None:
        """Seconds from a numeric ``Retry-After`` header, if there is a usable one."""
        value = self.headers.get("Retry-After")
        if value is None:
            return None
        try:
            seconds = float(value)
        except ValueError:
            return None
        return seconds if seconds >= 0 else None


class ProviderHttp:
    """Rate-limited, timed, observed HTTP for one account."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        limiter: Pacer,
        timeout: float,
        observe: CallObserver,
    ) -> None:
        self._session = session
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._observe = observe

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> HttpResponse:
        """Send one request and read the whole answer.

        Raises :class:`TransientError` (kind ``timeout`` or ``connection``) when
        no answer arrives; HTTP error statuses are returned for the provider to
        interpret.
        """
        # No coroutine when a slot is free: this runs for every API call.
        delay = self._limiter.reserve()
        if delay > 0:
            await asyncio.sleep(delay)
        started = time.perf_counter()
        try:
            # Only the arguments in use are passed: each one costs aiohttp work per call.
            options: dict[str, Any] = {"timeout": self._timeout, "allow_redirects": False}
            if headers is not None:
                options["headers"] = headers
            if params is not None:
                options["params"] = params
            if json_body is not None:
                options["json"] = json_body
            async with self._session.request(method, url, **options) as response:
                body = await response.read()
        except TimeoutError:
            self._observe(ErrorKind.TIMEOUT, time.perf_counter() - started)
            raise TransientError("request timed out", kind=ErrorKind.TIMEOUT) from None
        except aiohttp.ClientError as exc:
            self._observe(ErrorKind.CONNECTION, time.perf_counter() - started)
            # The exception text may hold the URL; name only its type.
            raise TransientError(
                f"request failed: {type(exc).__name__}", kind=ErrorKind.CONNECTION
            ) from None
        self._observe(str(response.status), time.perf_counter() - started)
        return HttpResponse(status=response.status, headers=response.headers, body=body)

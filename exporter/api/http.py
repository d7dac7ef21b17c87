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
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from sms_delivery_exporter.api.errors import BadResponse, ErrorKind, TransientError

CallObserver = Callable[[str, float | None], None]
"""Called once per request with (code, seconds): the HTTP status or an error kind. A re-sent
call is told once more, with code ``resent`` and no duration."""


class CallGate(Protocol):
    """The host's say on when a call may go on the wire: pauses, and one probe after each."""

    def open(self) -> bool:
        """A call may go now (checked first, so an open gate costs no coroutine)."""

    async def admit(self) -> bool:
        """Wait until a call may go; True when this call is the probe that ends a pause."""

    def probe_done(self) -> None:
        """The probe call ended (answered or not)."""


class _AlwaysOpen:
    def open(self) -> bool:
        return True

    async def admit(self) -> bool:  # pragma: no cover - never called: always open
        return False

    def probe_done(self) -> None:  # pragma: no cover - never called: never a probe
        pass


RESENT = "resent"
"""The ``code`` of a call the HTTP client sent again after the server dropped the kept-alive
connection it first went out on (aiohttp retries such idempotent calls by itself)."""

_attempts: ContextVar[list[int] | None] = ContextVar("sms_delivery_attempts", default=None)


class AttemptCountingRequest(aiohttp.ClientRequest):
    """aiohttp makes one request object per attempt: counting them shows a silent re-send.

    The host gives its client session this ``request_class``; the count goes to the
    call's own counter, found in the task's context, so nothing is shared between calls.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        counter = _attempts.get()
        if counter is not None:
            counter[0] += 1


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
    """Rate-limited, gated, timed, observed HTTP for one account.

    Every request waits for the account's rate limit, then for its gate: while
    the account is paused (a 429, refused credentials, an outage), nothing
    leaves but calls already on the wire.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        limiter: Pacer,
        timeout: float,
        observe: CallObserver,
        gate: CallGate | None = None,
    ) -> None:
        self._session = session
        self._limiter = limiter
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._observe = observe
        self._gate: CallGate = gate if gate is not None else _AlwaysOpen()

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
        probe = False
        if not self._gate.open():
            probe = await self._gate.admit()
        started = time.perf_counter()
        attempts = [0]
        _attempts.set(attempts)
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
        finally:
            if probe:
                self._gate.probe_done()
            if attempts[0] > 1:
                self._observe(RESENT, None)
        self._observe(str(response.status), time.perf_counter() - started)
        return HttpResponse(status=response.status, headers=response.headers, body=body)

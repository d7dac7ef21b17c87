"""Typed errors a provider raises, and the closed set of error kinds they are counted by.

Each error carries a :class:`ErrorKind`, the value of the ``kind`` label of
``sms_exporter_provider_errors_total``. Every kind is documented in the README
and zero-initialised for every account, so a plugin cannot invent a label
value. Messages must never contain message ids, phone numbers or secrets:
they are logged.
"""

from __future__ import annotations

from enum import StrEnum


class ErrorKind(StrEnum):
    """Why a poll failed or a ref was given up."""

    AUTH = "auth"
    """Credentials refused (after a token refresh, where the provider has tokens)."""
    THROTTLED = "throttled"
    """The provider asked to slow down (HTTP 429)."""
    BLOCKED = "blocked"
    """The provider blocked the account for a while (SFMC errorcode 50200)."""
    TIMEOUT = "timeout"
    """No answer within the account's timeout."""
    CONNECTION = "connection"
    """The connection failed (refused, reset, DNS)."""
    TRANSIENT = "transient"
    """A server error (5xx) or another answer worth retrying later."""
    PAYMENT_REQUIRED = "payment_required"
    """The provider refuses service until the account is paid (HTTP 402)."""
    BAD_RESPONSE = "bad_response"
    """An answer that cannot be read (malformed JSON, missing fields, absurd values)."""
    NOT_FOUND = "not_found"
    """The provider does not know the ref (after the grace period): it is dropped."""
    INVALID = "invalid"
    """The provider says the ref can never be valid: it is dropped."""
    PLUGIN_ERROR = "plugin_error"
    """The plugin raised something that is not a :class:`ProviderError`: a bug in it."""


class ProviderError(Exception):
    """Base of every error a provider may raise from ``fetch``."""

    kind: ErrorKind = ErrorKind.TRANSIENT


class RefNotFound(ProviderError):
    """The provider does not know this ref: the host stops tracking it.

    The host allows a short grace period after submission first, since some
    APIs answer 404 for a moment after a send.
    """

    kind = ErrorKind.NOT_FOUND


class RefInvalid(ProviderError):
    """The provider says this ref can never be valid (a permanent 4xx): stop tracking it."""

    kind = ErrorKind.INVALID


class Throttled(ProviderError):
    """The provider asks us to slow down: the host pauses the whole account.

    ``retry_after`` is the provider's word in seconds, if it gave one.
    ``blocked`` means the account is blocked for a while (not a short pause).
    """

    kind = ErrorKind.THROTTLED

    def __init__(self, message: str, *, retry_after: float | None = None, blocked: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.blocked = blocked
        if blocked:
            self.kind = ErrorKind.BLOCKED


class AuthFailed(ProviderError):
    """Credentials were refused (after the provider refreshed its token once, if it has one)."""

    kind = ErrorKind.AUTH


_TRANSIENT_KINDS = frozenset({ErrorKind.TRANSIENT, ErrorKind.TIMEOUT, ErrorKind.CONNECTION})


class TransientError(ProviderError):
    """Worth retrying later: 5xx (``transient``), ``timeout`` or ``connection``."""

    kind = ErrorKind.TRANSIENT

    def __init__(self, message: str, *, kind: ErrorKind = ErrorKind.TRANSIENT):
        if kind not in _TRANSIENT_KINDS:
            raise ValueError(f"{kind!r} is not a kind of transient error")
        super().__init__(message)
        self.kind = kind


class PaymentRequired(ProviderError):
    """The provider refuses service until the account is paid (HTTP 402): retried later."""

    kind = ErrorKind.PAYMENT_REQUIRED


class BadResponse(ProviderError):
    """The provider answered something we cannot read (malformed JSON, missing fields)."""

    kind = ErrorKind.BAD_RESPONSE

"""Typed errors a provider raises; the host knows what to do with each.

Each error carries a ``kind``, the value of the ``kind`` label of
``sms_exporter_provider_errors_total``. Messages must never contain message
ids, phone numbers or secrets: they are logged.
"""

from __future__ import annotations


class ProviderError(Exception):
    """Base of every error a provider may raise from ``fetch``."""

    kind = "error"


class RefNotFound(ProviderError):
    """The provider does not know this ref: the host stops tracking it.

    The host allows a short grace period after submission first, since some
    APIs answer 404 for a moment after a send.
    """

    kind = "not_found"


class RefInvalid(ProviderError):
    """The provider says this ref can never be valid (a permanent 4xx): stop tracking it."""

    kind = "invalid"


class Throttled(ProviderError):
    """The provider asks us to slow down: the host pauses the whole account.

    ``retry_after`` is the provider's word in seconds, if it gave one.
    ``blocked`` means the account is blocked for a while (not a short pause).
    """

    kind = "throttled"

    def __init__(self, message: str, *, retry_after: float | None = None, blocked: bool = False):
        super().__init__(message)
        self.retry_after = retry_after
        self.blocked = blocked


class AuthFailed(ProviderError):
    """Credentials were refused (after the provider refreshed its token once, if it has one)."""

    kind = "auth"


class TransientError(ProviderError):
    """Worth retrying later: 5xx, timeouts, refused connections."""

    kind = "transient"

    def __init__(self, message: str, *, kind: str = "transient"):
        super().__init__(message)
        self.kind = kind


class BadResponse(ProviderError):
    """The provider answered something we cannot read (malformed JSON, missing fields)."""

    kind = "bad_response"

"""The intake's bearer token: checked in constant time, whatever bytes a client sends.

The scheme is case-insensitive (RFC 9110: ``bearer`` is ``Bearer``). A header
aiohttp could not decode as UTF-8 arrives with surrogate escapes; it is
compared as the bytes it was, never raised about, and never echoed or logged.
"""

from __future__ import annotations

from pydantic import SecretStr

from sms_delivery_exporter.api import token_matches


class BearerToken:
    """Does an ``Authorization`` header carry the configured token?"""

    def __init__(self, token: SecretStr) -> None:
        self._expected = token

    def matches(self, header: str | None) -> bool:
        scheme, _, credentials = (header or "").strip().partition(" ")
        # Compared whatever the scheme, so that timing tells nothing about either part.
        same = token_matches(credentials.strip(), self._expected)
        return same and scheme.lower() == "bearer"

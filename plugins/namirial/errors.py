"""What a Namirial answer that is not a success means, as the host's typed errors."""

from __future__ import annotations

from sms_delivery_exporter.api import (
    AuthFailed,
    BadResponse,
    HttpResponse,
    ProviderError,
    Throttled,
    TransientError,
)


def error_for(response: HttpResponse) -> ProviderError:
    """The error for an answer neither 200 nor a 404 of the status endpoint."""
    status = response.status
    if status in (401, 403):
        return AuthFailed(f"Namirial refused the API key (HTTP {status})")
    if status == 429:
        return Throttled("Namirial answered 429", retry_after=response.retry_after())
    if status >= 500:
        return TransientError(f"Namirial answered HTTP {status}")
    return BadResponse(f"unexpected HTTP {status} from Namirial")

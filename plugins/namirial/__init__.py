"""Namirial SMS and RCS status API (seed 004): the ``namirial`` provider.

Ref: ``{"account": "...", "id": "<message UUID>"}``. Latency comes from the
provider's own clocks; RCS read receipts are counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from sms_delivery_exporter.api import ProviderClass, hookimpl
from sms_delivery_providers.namirial.provider import NamirialProvider


@hookimpl
def register_providers() -> Sequence[ProviderClass]:
    return [NamirialProvider]

"""Namirial SMS and RCS status API (seed 004): the ``namirial`` provider.

Ref: ``{"account": "...", "id": "<message UUID>"}``. Latency comes from the
provider's own clocks; RCS read receipts are counted.
"""

from __future__ import annotations

from collections.abc import Sequence

from exporter.hookspecs import hookimpl
from exporter.provider import ProviderClass
from plugins.namirial.provider import NamirialProvider


@hookimpl
def register_providers() -> Sequence[ProviderClass]:
    return [NamirialProvider]

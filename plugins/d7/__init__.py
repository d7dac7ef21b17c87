"""D7 Networks message-log report (seed 002): the ``d7`` provider.

Ref: ``{"account": "...", "request_id": "<uuid from /messages/v1/send>"}``;
each recipient of the request (``msg_id``) is one message.
"""

from __future__ import annotations

from collections.abc import Sequence

from sms_delivery_exporter.api import ProviderClass, hookimpl
from sms_delivery_providers.d7.provider import D7Provider


@hookimpl
def register_providers() -> Sequence[ProviderClass]:
    return [D7Provider]

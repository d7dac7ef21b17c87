"""Salesforce Marketing Cloud transactional SMS (seed 000): the ``sfmc_transactional`` provider.

Ref: ``{"account": "...", "message_key": "..."}``. This API reports nothing
after "sent to the SMS provider": ``sent`` is final here, and there is no
delivery latency to report.
"""

from __future__ import annotations

from collections.abc import Sequence

from sms_delivery_exporter.api import ProviderClass, hookimpl
from sms_delivery_providers.sfmc_transactional.provider import SfmcTransactionalProvider


@hookimpl
def register_providers() -> Sequence[ProviderClass]:
    return [SfmcTransactionalProvider]

"""What an application registers for a transactional SMS: the messageKey it chose."""

from __future__ import annotations

from pydantic import Field

from sms_delivery_exporter.api import RefModel


class SfmcTransactionalRef(RefModel):
    """The messageKey the application chose when it sent the message."""

    message_key: str = Field(min_length=1, max_length=200, pattern=r"^[^/?#\s]+$")

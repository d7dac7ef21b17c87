"""What an application registers for a Namirial message: the id the send API returned."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from sms_delivery_exporter.api import RefModel

MessageId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
]


class NamirialRef(RefModel):
    """A message id returned by the Namirial send API."""

    id: MessageId = Field(description="the message UUID")

"""What an application registers for a D7 send: the request_id of /messages/v1/send."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

from sms_delivery_exporter.api import RefModel

RequestId = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        pattern=r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
    ),
]


class D7Ref(RefModel):
    """The request_id /messages/v1/send returned."""

    request_id: RequestId

"""What the store keeps of a ref between polls: each message's status, as compact JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sms_delivery_exporter.api import Status

_COMPACT = json.JSONEncoder(separators=(",", ":"))
"""Made once: json.dumps with options makes an encoder per call (once per changed ref here)."""


@dataclass(slots=True)
class MessageState:
    status: Status
    channel: str
    read: bool = False
    delivered_seen_at: float | None = None
    awaiting_read: bool = False
    """Delivered on a read channel, unread, and still polled for its read receipt."""
    details_due: bool = False
    """Final by a webhook that did not tell what a poll does (parts, cost, country):
    the next poll that sees the message counts them."""


@dataclass(slots=True)
class RefState:
    """What the store keeps of a ref between polls. No messages yet means pending."""

    messages: dict[str, MessageState] = field(default_factory=dict)

    @classmethod
    def load(cls, text: str) -> RefState:
        if not text:
            return cls()
        return cls(
            {
                key: MessageState(
                    Status(fields[0]),
                    fields[1],
                    bool(fields[2]),
                    fields[3],
                    len(fields) > 4 and bool(fields[4]),
                    len(fields) > 5 and bool(fields[5]),
                )
                for key, fields in json.loads(text).items()
            }
        )

    def dump(self) -> str:
        # The read-receipt wait and the details due are written only while they last,
        # so that the text of every open message stays what it has always been (the
        # tracker's fast path compares it as it is).
        return _COMPACT.encode({key: _fields(m) for key, m in self.messages.items()})


def _fields(m: MessageState) -> list[object]:
    fields: list[object] = [m.status.value, m.channel, int(m.read), m.delivered_seen_at]
    if m.details_due:
        fields += [int(m.awaiting_read), 1]
    elif m.awaiting_read:
        fields.append(1)
    return fields

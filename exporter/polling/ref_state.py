"""What the store keeps of a ref between polls: each message's status, as compact JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sms_delivery_exporter.api import Status


@dataclass(slots=True)
class MessageState:
    status: Status
    channel: str
    read: bool = False
    delivered_seen_at: float | None = None
    awaiting_read: bool = False
    """Delivered on a read channel, unread, and still polled for its read receipt."""


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
                key: MessageState(Status(fields[0]), fields[1], bool(fields[2]), fields[3])
                if len(fields) == 4
                else MessageState(Status(fields[0]), fields[1], bool(fields[2]), fields[3], True)
                for key, fields in json.loads(text).items()
            }
        )

    def dump(self) -> str:
        # The read-receipt wait is written only while it lasts, so that the text
        # of every open message stays what it has always been (the tracker's fast
        # path compares it as it is).
        return json.dumps(
            {
                key: [m.status.value, m.channel, int(m.read), m.delivered_seen_at]
                + ([1] if m.awaiting_read else [])
                for key, m in self.messages.items()
            },
            separators=(",", ":"),
        )

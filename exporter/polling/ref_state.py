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
                key: MessageState(Status(status), channel, bool(read), seen)
                for key, (status, channel, read, seen) in json.loads(text).items()
            }
        )

    def dump(self) -> str:
        return json.dumps(
            {
                key: [m.status.value, m.channel, int(m.read), m.delivered_seen_at]
                for key, m in self.messages.items()
            },
            separators=(",", ":"),
        )

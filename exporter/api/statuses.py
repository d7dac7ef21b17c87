"""The canonical message lifecycle every provider maps onto (PROVIDERS.md)."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Canonical status of one message.

    ``pending`` is the exporter's own: registered, not yet seen in any provider
    answer. ``expired`` is set by the exporter when the tracking window closes.
    Which statuses are final depends on the provider (``Provider.final_statuses``):
    for an API that reports nothing after ``sent``, ``sent`` is final.
    """

    PENDING = "pending"
    QUEUED = "queued"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    REJECTED = "rejected"
    EXPIRED = "expired"

    @property
    def rank(self) -> int:
        """Order in the lifecycle: a message never moves to a lower rank."""
        return _RANKS[self]


FINAL_STATUSES = frozenset({Status.DELIVERED, Status.UNDELIVERED, Status.REJECTED, Status.EXPIRED})
"""Final for every provider; a provider may add ``sent`` (``Provider.final_statuses``)."""
FAILURE_STATUSES = frozenset({Status.UNDELIVERED, Status.REJECTED})
"""Final statuses that come with a failure reason."""
OPEN_STATUSES = (Status.PENDING, Status.QUEUED, Status.SENT)
_RANKS = {
    Status.PENDING: 0,
    Status.QUEUED: 1,
    Status.SENT: 2,
    Status.DELIVERED: 3,
    Status.UNDELIVERED: 3,
    Status.REJECTED: 3,
    Status.EXPIRED: 3,
}

OTHER = "other"
"""The label value for any reason, code or label value outside a bounded set."""

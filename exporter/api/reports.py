"""What a provider tells the host about a ref: one observation per message."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sms_delivery_exporter.api.errors import RefInvalid, RefNotFound
from sms_delivery_exporter.api.statuses import Status


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class Observation:
    """What a provider said about one message at one poll.

    ``key`` tells messages of one ref apart (``""`` when a ref is one message).
    ``reason`` must be one of the provider's ``reasons`` (the host turns anything
    else into ``other``). Timestamps are Unix seconds, ``None`` when the API has
    none. ``read`` marks an RCS read receipt, which implies delivery.
    """

    key: str
    status: Status
    provider_status: str
    code: str | None = None
    reason: str | None = None
    accepted_at: float | None = None
    changed_at: float | None = None
    channel: str = "sms"
    segments: int | None = None
    cost: float | None = None
    currency: str | None = None
    country: str | None = None
    read: bool = False


@dataclass(slots=True)  # not frozen: frozen __init__ is slow, and this is made per poll
class RefReport:
    """A provider's answer about one ref.

    ``complete`` is false while the provider may still list more messages for
    this ref (a request whose recipients have not all appeared yet).
    """

    observations: Sequence[Observation]
    complete: bool = True


@dataclass(frozen=True, slots=True)
class Probe:
    """What a probe of the API learned, beyond "the credentials work"."""

    balance: float | None = None
    """The account's credit, where the API reports it (a finite amount)."""
    currency: str | None = None


RefOutcome = RefReport | RefNotFound | RefInvalid
"""Per ref: a report, or the reason it can no longer be tracked."""

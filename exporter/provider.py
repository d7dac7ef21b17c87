"""The provider plugin API: what a plugin implements, and what it gets back.

A :class:`Provider` holds the whole knowledge of one status API and nothing
else: it never touches metrics, the store or the scheduler. The host creates
one instance per configured account, hands it an :class:`~exporter.http.ProviderHttp`
and asks it about batches of refs. A minimal provider::

    class EchoProvider(Provider[EchoSettings, EchoRef]):
        name = "echo"
        Settings = EchoSettings          # a ProviderSettings subclass
        Ref = EchoRef                    # a RefModel subclass: what applications send
        reasons = frozenset({"blocked"}) # the bounded set of failure reasons

        async def fetch_one(self, ref: EchoRef) -> RefReport:
            answer = await self.http.request("GET", f"{self.settings.base_url}/{ref.id}")
            ...
            return RefReport([Observation(key="", status=Status.DELIVERED, ...)])
"""

from __future__ import annotations

import math
from abc import ABC
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, model_validator

from sms_delivery_exporter.durations import Duration
from sms_delivery_exporter.errors import RefInvalid, RefNotFound
from sms_delivery_exporter.http import ProviderHttp
from sms_delivery_exporter.statuses import FINAL_STATUSES, Status

if TYPE_CHECKING:
    from sms_delivery_exporter.simulation import DemoSimulator


class ScheduleSettings(BaseModel):
    """When to poll a ref: soon after submission, then at growing intervals.

    A provider overrides the defaults by subclassing this model.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Defaults measured in bench/economy.py: on realistic delivery latencies they
    # cost under half the calls of fixed 5 s polling, with a median latency
    # error of about 13%.
    first_poll: Duration = Field(2.0, description="delay from registration to the first poll")
    initial_interval: Duration = Field(3.0, gt=0, description="interval after the first poll")
    growth: float = Field(1.3, ge=1.0, le=10.0, description="factor between intervals")
    max_interval: Duration = Field(300.0, gt=0, description="cap on the interval")
    tracking_window: Duration = Field(
        86400.0, gt=0, description="age after which open messages become expired"
    )
    not_found_grace: Duration = Field(
        60.0, description="how long a 404 right after submission is retried before giving up"
    )
    read_receipt_window: Duration = Field(
        3600.0, description="how long a delivered RCS message is polled for its read receipt"
    )

    @model_validator(mode="after")
    def _intervals_fit(self) -> ScheduleSettings:
        if self.initial_interval > self.max_interval:
            raise ValueError("initial_interval must not exceed max_interval")
        return self

    def interval_after(self, polls: int) -> float:
        """Seconds to wait after the ``polls``-th poll (1-based)."""
        exponent = min(max(polls - 1, 0), 64)
        return float(min(self.initial_interval * self.growth**exponent, self.max_interval))


class ProviderSettings(BaseModel):
    """The options every account has; a provider's ``Settings`` adds its own.

    Credentials should be ``SecretStr`` so they never print.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    provider: str = Field(description="the plugin that serves this account")
    rate_limit: float = Field(5.0, gt=0, description="requests per second to the provider")
    burst: int = Field(1, ge=1, description="requests allowed at once after an idle spell")
    concurrency: int = Field(4, ge=1, le=1024, description="requests in flight at once")
    timeout: Duration = Field(10.0, gt=0, description="time limit of one API call")
    sample_rate: float = Field(
        1.0, gt=0, le=1, description="fraction of registered refs tracked (hash-based)"
    )
    schedule: ScheduleSettings = ScheduleSettings()


class RefModel(BaseModel):
    """Base of a provider's ``Ref``: the fields an application sends to start tracking.

    Fields must be strings; together they identify one polled unit.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


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


SettingsT = TypeVar("SettingsT", bound=ProviderSettings)
RefT = TypeVar("RefT", bound=RefModel)
RefOutcome = RefReport | RefNotFound | RefInvalid
"""Per ref: a report, or the reason it can no longer be tracked."""


class Provider(ABC, Generic[SettingsT, RefT]):
    """One provider's status API. Subclass it and return the class from ``register_providers``."""

    name: ClassVar[str]
    """The ``provider`` label value and the ``provider:`` key of an account."""
    Settings: ClassVar[type[ProviderSettings]]
    """The account's config block."""
    Ref: ClassVar[type[RefModel]]
    """The fields an application sends to start tracking."""
    reasons: ClassVar[frozenset[str]]
    """Every failure reason this provider can report; anything else becomes ``other``."""
    channels: ClassVar[tuple[str, ...]] = ("sms",)
    """Channels this provider reports, the first one the default."""
    read_channels: ClassVar[frozenset[str]] = frozenset()
    """Channels on which read receipts arrive after delivery."""
    batch_size: ClassVar[int] = 1
    """How many refs one :meth:`fetch` call takes."""
    final_statuses: ClassVar[frozenset[Status]] = FINAL_STATUSES
    """Statuses after which this API reports nothing more (add ``sent`` where it stops there)."""

    def __init__(self, settings: SettingsT, http: ProviderHttp) -> None:
        self.settings = settings
        self.http = http

    async def fetch(self, refs: Sequence[RefT]) -> list[RefOutcome]:
        """Ask the API about a batch of refs; one outcome per ref, in order.

        Raise :class:`~exporter.errors.Throttled`, :class:`~exporter.errors.AuthFailed`,
        :class:`~exporter.errors.TransientError` or :class:`~exporter.errors.BadResponse`
        when the whole batch failed. The default calls :meth:`fetch_one` per ref.
        """
        outcomes: list[RefOutcome] = []
        for ref in refs:
            try:
                outcomes.append(await self.fetch_one(ref))
            except (RefNotFound, RefInvalid) as gone:
                outcomes.append(gone)
        return outcomes

    async def fetch_one(self, ref: RefT) -> RefReport:
        """Ask the API about one ref. Override this, or :meth:`fetch` for batch APIs."""
        raise NotImplementedError(f"provider {self.name!r} implements neither fetch nor fetch_one")

    async def close(self) -> None:
        """Release what the provider holds (tokens, sessions of its own)."""

    @classmethod
    def demo_simulator(cls) -> DemoSimulator | None:
        """A simulator of this provider for ``sms-delivery-exporter demo``, if it ships one."""
        return None


AnyProvider = Provider[ProviderSettings, RefModel]
ProviderClass = type[Provider]  # type: ignore[type-arg]


def count_field(value: object) -> int | None:
    """A provider's count (parts, recipients) if it is a real non-negative integer.

    JSON ``true`` is an int to Python; a count must not be.
    """
    return value if type(value) is int and value >= 0 else None


def amount_field(value: object) -> float | None:
    """A provider's amount (cost) if it is a finite non-negative number.

    ``Infinity`` or ``NaN`` in an answer would poison a counter for good.
    """
    if type(value) not in (int, float):
        return None
    amount = float(value)  # type: ignore[arg-type]
    return amount if math.isfinite(amount) and amount >= 0 else None

"""The Provider class: the whole knowledge of one status API, and nothing else.

A provider never touches metrics, the store or the scheduler. The host creates
one instance per configured account, hands it a :class:`ProviderHttp` and asks
it about batches of refs.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Sequence
from typing import ClassVar, Generic, TypeVar

from sms_delivery_exporter.api.canary import Canary
from sms_delivery_exporter.api.discovery import Discoverer
from sms_delivery_exporter.api.errors import RefInvalid, RefNotFound
from sms_delivery_exporter.api.http import ProviderHttp
from sms_delivery_exporter.api.push import PushReceiver
from sms_delivery_exporter.api.reports import Probe, RefOutcome, RefReport
from sms_delivery_exporter.api.settings import ProviderSettings, RefModel
from sms_delivery_exporter.api.statuses import FINAL_STATUSES, Status

SettingsT = TypeVar("SettingsT", bound=ProviderSettings)
RefT = TypeVar("RefT", bound=RefModel)


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
    statuses: ClassVar[frozenset[Status]] = frozenset(Status) - {Status.PENDING, Status.EXPIRED}
    """The canonical statuses this API can report: the host creates series for these only."""
    reports_segments: ClassVar[bool] = False
    """Whether observations carry billed parts (``segments``)."""
    reports_cost: ClassVar[bool] = False
    """Whether observations carry a cost."""
    push: ClassVar[type[PushReceiver] | None] = None
    """Optional capability: reads the provider's webhook calls (see :mod:`.push`)."""
    discovery: ClassVar[type[Discoverer] | None] = None
    """Optional capability: finds messages nobody registered (see :mod:`.discovery`)."""
    canary: ClassVar[type[Canary] | None] = None
    """Optional capability: sends synthetic canary messages (see :mod:`.canary`)."""

    def __init__(self, settings: SettingsT, http: ProviderHttp) -> None:
        self.settings = settings
        self.http = http

    async def fetch(self, refs: Sequence[RefT]) -> list[RefOutcome]:
        """Ask the API about a batch of refs; one outcome per ref, in order.

        Raise :class:`~.errors.Throttled`, :class:`~.errors.AuthFailed`,
        :class:`~.errors.TransientError`, :class:`~.errors.PaymentRequired` or
        :class:`~.errors.BadResponse` when the whole batch failed. The default
        calls :meth:`fetch_one` per ref.
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

    async def probe(self) -> Probe | None:
        """The API's cheapest authenticated call: is the account reachable and authorised?

        The host calls it when the account starts and every ``probe_interval``,
        so that ``sms_exporter_provider_up`` is known without traffic. Raise the
        same errors as :meth:`fetch`; return a :class:`Probe` (with the balance
        if the call gives one), or None, the default, when the API has no such call.
        """
        return None

    async def close(self) -> None:
        """Release what the provider holds (tokens, sessions of its own)."""


AnyProvider = Provider[ProviderSettings, RefModel]
ProviderClass = type[Provider]  # type: ignore[type-arg]

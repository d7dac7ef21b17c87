"""``/metrics``: the operational collectors and the outcome series, in the format asked for."""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from sms_delivery_exporter.metrics.collectors import SelfStats
from sms_delivery_exporter.outcomes import OutcomeRenderer

_EOF = b"# EOF\n"


class Exposition:
    """One page: prometheus_client renders the registry, the outcome renderer the rest.

    With a shared store only the leader renders the outcome series (``serves_outcomes``).
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        outcomes: OutcomeRenderer,
        stats: SelfStats,
        *,
        serves_outcomes: Callable[[], bool] = lambda: True,
    ) -> None:
        self.registry = registry
        self._outcomes = outcomes
        self._stats = stats
        self._serves_outcomes = serves_outcomes

    def render(self, accept: str = "") -> tuple[bytes, str]:
        """The page and its content type, negotiated as prometheus_client does."""
        started = time.perf_counter()
        encoder, content_type = choose_encoder(accept)
        head = encoder(self.registry)
        serves = self._serves_outcomes()
        if content_type.startswith("application/openmetrics-text"):
            # OpenMetrics ends with one # EOF, after the outcome series.
            outcomes = self._outcomes.render(openmetrics=True).encode() if serves else b""
            page = head.removesuffix(_EOF) + outcomes + _EOF
        else:
            page = head + (self._outcomes.render().encode() if serves else b"")
        self._stats.scrape_seconds = time.perf_counter() - started
        return page, content_type

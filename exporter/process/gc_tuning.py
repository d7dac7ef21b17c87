"""Settings of the exporter's own process, applied by the CLI (a library user may not want them)."""

from __future__ import annotations

import gc

GC_THRESHOLDS = (20_000, 50, 100)


def tune_gc() -> None:
    """Make garbage collection cheap for a long-running poller.

    Everything alive after start-up (modules, plugins, config) lives for the
    whole process: freezing it keeps the collector from walking it again and
    again. The poll path allocates short-lived objects at a high rate; a higher
    first threshold collects them in fewer, equally cheap passes. Measured in
    bench/README.md (poll throughput).
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

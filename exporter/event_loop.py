"""``--event-loop``: asyncio by default; uvloop when asked for and installed.

bench/README.md compares both on the whole poll path: uvloop did not help
measurably, so it is not the default.
"""

from __future__ import annotations

import asyncio

CHOICES = ("asyncio", "uvloop")


def new_event_loop(kind: str = "asyncio") -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind asked (``uvloop`` needs the uvloop package)."""
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()

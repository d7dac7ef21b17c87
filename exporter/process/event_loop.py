"""``--event-loop``: uvloop where it is installed (the default install has it), else asyncio.

bench/README.md compares both on the whole poll path: uvloop polls about 13%
faster (median of seven runs), so ``auto`` picks it.
"""

from __future__ import annotations

import asyncio
import importlib.util

CHOICES = ("auto", "uvloop", "asyncio")


def new_event_loop(kind: str = "auto") -> asyncio.AbstractEventLoop:
    """A fresh loop of the kind asked; ``auto`` prefers uvloop when it can be imported."""
    if kind == "uvloop" or (kind == "auto" and importlib.util.find_spec("uvloop") is not None):
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()

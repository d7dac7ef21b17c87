"""Event loops to compare: the standard asyncio loop and uvloop."""

from __future__ import annotations

import asyncio


def new_event_loop(kind: str) -> asyncio.AbstractEventLoop:
    if kind == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()

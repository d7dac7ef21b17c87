"""The Namirial simulator under load: every well-formed id is a message that never becomes final.

So the exporter polls every ref again and again, and the simulator holds no
state per message. ``python -m bench.server --port N``.
"""

from __future__ import annotations

import argparse
import time

from aiohttp import web

from sms_delivery_exporter.process.event_loop import new_event_loop
from sms_delivery_exporter.testing import Scenario, SimMessage
from sms_delivery_providers.namirial.simulator import NamirialSimulator

API_KEY = "bench-api-key"


class LoadSimulator(NamirialSimulator):
    """Answers SENT for any id (DELIVERED with ``final``), without storing anything."""

    def __init__(self, *, final: bool = False) -> None:
        super().__init__(api_key=API_KEY, scenario=Scenario(), log_requests=False)
        self._started = time.time()
        self._final = final

    def find(self, message_id: str) -> SimMessage | None:
        stages = [(self._started, "queued"), (self._started + 0.1, "sent")]
        if self._final:
            stages.append((self._started + 0.2, "delivered"))
        return SimMessage(
            id=message_id, accepted_at=self._started, channel="sms", segments=1, stages=stages
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    parser.add_argument("--final", action="store_true", help="every message is delivered")
    args = parser.parse_args()
    web.run_app(
        LoadSimulator(final=args.final).app(),
        host="127.0.0.1",
        port=args.port,
        print=None,
        access_log=None,
        loop=new_event_loop(args.loop),
    )


if __name__ == "__main__":
    main()

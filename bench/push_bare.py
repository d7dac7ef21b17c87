"""The yardstick of webhook intake: a bare aiohttp handler that reads the body and answers 200.

``python -m bench.push_bare --port N --loop uvloop|asyncio``.
"""

from __future__ import annotations

import argparse

from aiohttp import web

from sms_delivery_exporter.process.event_loop import new_event_loop


async def receive(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"accepted": 1, "duplicates": 0})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="uvloop")
    args = parser.parse_args()
    app = web.Application()
    app.router.add_post("/api/v1/push/{account}", receive)
    app.router.add_get("/-/ready", lambda request: web.Response(text="Ready.\n"))  # type: ignore[arg-type,return-value]
    web.run_app(
        app,
        host="127.0.0.1",
        port=args.port,
        access_log=None,
        print=None,
        loop=new_event_loop(args.loop),
    )


if __name__ == "__main__":
    main()

"""``sms-delivery-exporter demo``: what a newcomer sees within a minute, and a clean Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

from sms_delivery_exporter.testing import free_port
from tests.helpers import Samples, providers, scrape, total, wait_for

pytestmark = pytest.mark.slow


async def test_demo_shows_outcomes_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sms_delivery_exporter",
                "demo",
                "--web.listen-address",
                f"127.0.0.1:{port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        async with aiohttp.ClientSession() as session:

            async def outcomes() -> Samples | None:
                assert process.poll() is None, log_path.read_text()
                try:
                    samples = await scrape(session, f"http://127.0.0.1:{port}")
                except aiohttp.ClientError:
                    return None
                wanted = ("delivered", "undelivered", "rejected")
                seen = all(total(samples, "sms_messages_final_total", status=s) > 0 for s in wanted)
                every_provider = all(
                    total(samples, "sms_messages_final_total", provider=name) > 0
                    for name in providers()
                )
                has_latency = total(samples, "sms_delivery_latency_seconds_count") > 0
                # Providers with push tell final statuses by webhook too.
                pushed = total(samples, "sms_messages_final_by_source_total", source="push") > 0
                ready = seen and has_latency and every_provider and pushed
                return samples if ready else None

            await wait_for(
                outcomes, timeout=60, interval=0.5, what="delivered, undelivered and rejected"
            )
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(timeout=30)
    output = log_path.read_text()
    assert code == 0, output
    assert f"http://127.0.0.1:{port}/metrics" in output
    assert "demo stopped" in output

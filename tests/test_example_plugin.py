"""The example plugin of the README, as a third party would ship it: installed with pip,
found through its entry point, run by the real exporter against a tiny Echo API."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from tests.helpers import by_label, config_check, total, wait_for
from tests.processes import ExporterProcess

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sms-exporter-echo"
KEY = "echo-key-123"
MESSAGES = {
    "m-1": {"state": "delivered", "parts": 1},
    "m-2": {"state": "delivered", "parts": 2},
    "m-3": {"state": "failed", "parts": 1, "error": "number_blocked"},
    "m-4": {"state": "failed", "parts": 1, "error": "something new"},
}


def echo_api() -> web.Application:
    """The Echo status API, as the example's docstring describes it."""

    async def status(request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token {KEY}":
            return web.json_response({"error": "unauthorized"}, status=401)
        found = MESSAGES.get(request.match_info["id"])
        if found is None:
            return web.json_response({"error": "not found"}, status=404)
        return web.json_response({"id": request.match_info["id"], **found})

    app = web.Application()
    app.router.add_get("/v1/messages/{id}", status)
    return app


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example installed by pip (a real wheel, its entry point metadata included)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
            *("--no-build-isolation", "--target", str(target), str(EXAMPLE)),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


def test_the_plugin_imports_only_the_api() -> None:
    tree = ast.parse((EXAMPLE / "sms_exporter_echo.py").read_text())
    host = {
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sms_delivery")
    }
    assert host == {"sms_delivery_exporter.api"}


def test_config_check_lists_it(site: Path, tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "accounts:\n  echo-main: {provider: echo, base_url: 'http://127.0.0.1:1', api_key: k}\n"
    )
    result = config_check(config, {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    assert "echo-main: provider echo" in result.stdout
    assert "echo" in result.stdout.splitlines()[-1]


async def test_the_exporter_polls_with_it(
    site: Path,
    tmp_path: Path,
    serve: Callable[..., Any],
    session: aiohttp.ClientSession,
) -> None:
    url = await serve(echo_api())
    account = {
        "provider": "echo",
        "base_url": url,
        "api_key": KEY,
        "schedule": {"first_poll": "0s", "initial_interval": "100ms", "not_found_grace": "0s"},
    }
    document = {"store": {"path": str(tmp_path / "store.db")}, "accounts": {"echo-main": account}}
    exporter = ExporterProcess(yaml.safe_dump(document), tmp_path, env={"PYTHONPATH": str(site)})
    exporter.start()
    try:
        await exporter.ready(session)
        await exporter.post(
            session, [{"account": "echo-main", "id": ref} for ref in [*MESSAGES, "m-unknown"]]
        )

        async def settled() -> Any:
            samples = await exporter.scrape(session)
            dropped = total(samples, "sms_exporter_refs_dropped_total", account="echo-main")
            return samples if total(samples, "sms_messages_final_total") == 4 and dropped else None

        samples = await wait_for(settled, what="every Echo message final")
        assert by_label(samples, "sms_messages_final_total", "status") == {
            "delivered": 2,
            "undelivered": 2,
        }
        assert by_label(samples, "sms_message_failures_total", "reason") == {
            "number_blocked": 1,
            "other": 1,
        }
        assert total(samples, "sms_message_segments_total", provider="echo") == 5
        assert by_label(samples, "sms_exporter_refs_dropped_total", "reason") == {"not_found": 1}
    finally:
        assert exporter.stop() == 0

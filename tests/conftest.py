from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from sms_delivery_exporter.testing import Scenario
from sms_delivery_providers.namirial.simulator import NamirialSimulator
from tests.helpers import RunningExporter

API_KEY = "test-key-0123456789"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class _Crashes(logging.Handler):
    """Records of a task of the exporter that died of a bug and was restarted."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.what: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.endswith("crashed; restarting"):
            self.what.append(message)


@pytest.fixture(autouse=True)
def no_task_crashed() -> Iterator[None]:
    """Fail a test in which a task of an in-process exporter died of a bug.

    The exporter restarts such a task (one account never stops the others), and
    the restart starts again from the store, so a test could pass with a crash
    inside; a crash is a defect all the same."""
    crashes = _Crashes()
    logger = logging.getLogger("sms_delivery_exporter.app")
    logger.addHandler(crashes)
    try:
        yield
    finally:
        logger.removeHandler(crashes)
    assert not crashes.what, f"a task crashed: {crashes.what}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_section(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    """The config's store section: the embedded SQLite file, or a fresh PostgreSQL database
    (a test taking it runs on both)."""
    if request.param == "sqlite":
        return {"path": str(tmp_path / "store.db")}
    url: str = request.getfixturevalue("postgres_url")
    return {"url": url}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def start_namirial(
    aiohttp_server: Callable[..., Any],
) -> Callable[..., Any]:
    """Start a Namirial simulator on loopback: returns (simulator, base URL)."""

    async def start(
        scenario: Scenario | None = None, **options: Any
    ) -> tuple[NamirialSimulator, str]:
        simulator = NamirialSimulator(api_key=API_KEY, scenario=scenario, **options)
        server: TestServer = await aiohttp_server(simulator.app())
        return simulator, str(server.make_url("")).rstrip("/")

    return start


@pytest.fixture
async def start_exporter(
    aiohttp_client: Callable[..., Any],
) -> Callable[..., Any]:
    """Start an exporter in-process (polling starts): returns (exporter, test client)."""
    from sms_delivery_exporter.app import create_app
    from sms_delivery_exporter.config import Config
    from sms_delivery_exporter.web.serving import PARSING

    async def start(config: Config, **options: Any) -> tuple[RunningExporter, Any]:
        app = create_app(config, **options)
        # Parsed as the exporter's own server parses (handler options go to start_server).
        server = TestServer(app)
        await server.start_server(**PARSING)
        client = await aiohttp_client(server)
        return RunningExporter(app), client

    return start


@pytest.fixture
async def serve(aiohttp_server: Callable[..., Any]) -> Callable[..., Any]:
    """Serve an aiohttp app on loopback for the test: returns its base URL."""

    async def start(app: Any) -> str:
        server: TestServer = await aiohttp_server(app)
        return str(server.make_url("")).rstrip("/")

    return start


@pytest.fixture
async def build_provider() -> Any:
    """Instantiate a provider class from an account block, with a real aiohttp session.

    The provider gets a ``calls`` list of (code, seconds), one per HTTP request.
    """
    import aiohttp

    from sms_delivery_exporter.api import ProviderHttp
    from sms_delivery_exporter.polling import RateLimiter

    sessions: list[aiohttp.ClientSession] = []

    def build(provider_class: Any, **block: Any) -> Any:
        settings = provider_class.Settings.model_validate(
            {"provider": provider_class.name, **block}
        )
        session = aiohttp.ClientSession()
        sessions.append(session)
        calls: list[tuple[str, float | None]] = []
        http = ProviderHttp(
            session,
            limiter=RateLimiter(10_000),
            timeout=settings.timeout,
            observe=lambda code, seconds: calls.append((code, seconds)),
        )
        provider = provider_class(settings, http)
        provider.calls = calls
        return provider

    yield build
    for session in sessions:
        await session.close()


@pytest.fixture
async def session() -> Any:
    """An HTTP client session for the test."""
    import aiohttp

    async with aiohttp.ClientSession() as client:
        yield client


@pytest.fixture
def processes() -> Any:
    """Exporter processes a test starts: stopped (SIGTERM, then SIGKILL) when it ends."""
    import contextlib
    import subprocess

    from tests.processes import ExporterProcess

    started: list[ExporterProcess] = []
    yield started
    for process in started:
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.stop()
        if process.process is not None and process.process.poll() is None:
            process.kill()


@pytest.fixture(scope="session")
def postgres() -> Any:
    """A PostgreSQL cluster shared by the tests of one run (each takes its own database)."""
    from tests import postgres as pg

    if not pg.available():
        pytest.skip("PostgreSQL is not installed (make test installs it as root)")
    with pg.cluster() as made:
        yield made


@pytest.fixture
def postgres_url(postgres: Any) -> str:
    """The URL of a fresh, empty database on the shared cluster."""
    url: str = postgres.new_database()
    return url

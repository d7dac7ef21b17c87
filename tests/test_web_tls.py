"""``--web.config.file``: TLS, client certificates and basic auth on every endpoint, checked by
promtool, and a real Prometheus scraping over https (a wrong password takes the target down)."""

from __future__ import annotations

import asyncio
import base64
import shutil
import ssl
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import bcrypt
import pytest
import yaml

from tests.helpers import make_config, namirial_account, wait_for
from tests.processes import ExporterProcess
from tests.stack import Server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("openssl") is None, reason="needs Debian's openssl"),
]
TOKEN = "tls-intake-token-0123456789"
PASSWORD = "scrape-password-0123"
ENDPOINTS = ("/", "/metrics", "/-/healthy", "/-/ready")


def openssl(workdir: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=workdir, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, made here, never kept."""
    workdir = tmp_path_factory.mktemp("pki")
    openssl(workdir, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.crt", "-subj", "/CN=test CA")  # fmt: skip
    for name, extension in (
        ("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
        ("client", "extendedKeyUsage=clientAuth"),
    ):
        openssl(workdir, "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
                "-out", f"{name}.csr", "-subj", f"/CN={name}")  # fmt: skip
        (workdir / f"{name}.ext").write_text(extension + "\n")
        openssl(workdir, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey",
                "ca.key", "-CAcreateserial", "-days", "2", "-out", f"{name}.crt",
                "-extfile", f"{name}.ext")  # fmt: skip
    return workdir


def web_config(workdir: Path, pki: Path, **tls: Any) -> Path:
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=10)).decode()
    document = {
        "tls_server_config": {
            "cert_file": str(pki / "server.crt"),
            "key_file": str(pki / "server.key"),
            **tls,
        },
        "http_server_config": {"headers": {"X-Content-Type-Options": "nosniff"}},
        "basic_auth_users": {"prometheus": hashed.replace("$2b$", "$2y$")},
    }
    path = workdir / "web.yml"
    path.write_text(yaml.safe_dump(document))
    return path


def basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def client_context(pki: Path, *, certificate: bool = False) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    if certificate:
        context.load_cert_chain(pki / "client.crt", pki / "client.key")
    return context


async def start(
    tmp_path: Path, web: Path, processes: list[ExporterProcess], session: aiohttp.ClientSession,
    context: ssl.SSLContext, *args: str,
) -> str:  # fmt: skip
    _, text = make_config(
        tmp_path,
        {"eu": namirial_account("http://127.0.0.1:9", "k", schedule={"first_poll": "1h"})},
        intake={"token": TOKEN},
    )
    process = ExporterProcess(text, tmp_path, args=("--web.config.file", str(web), *args))
    processes.append(process)
    process.start()
    url = f"https://127.0.0.1:{process.port}"

    async def ready() -> bool:
        assert process.process is not None and process.process.poll() is None, process.log()
        try:
            async with session.get(
                f"{url}/-/ready", ssl=context, headers=basic("prometheus", PASSWORD)
            ) as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    await wait_for(ready, timeout=30, what="exporter ready over https")
    return url


@pytest.mark.skipif(shutil.which("promtool") is None, reason="needs Debian's promtool")
def test_promtool_accepts_the_web_config(tmp_path: Path, pki: Path) -> None:
    path = web_config(tmp_path, pki, client_auth_type="RequireAndVerifyClientCert",
                      client_ca_file=str(pki / "ca.crt"))  # fmt: skip
    result = subprocess.run(
        ["promtool", "check", "web-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


async def test_every_endpoint_needs_credentials(
    tmp_path: Path, pki: Path, processes: list[ExporterProcess], session: aiohttp.ClientSession
) -> None:
    context = client_context(pki)
    url = await start(tmp_path, web_config(tmp_path, pki), processes, session, context)
    good = basic("prometheus", PASSWORD)
    for path in ENDPOINTS:
        async with session.get(url + path, ssl=context) as response:
            assert response.status == 401, path
            assert response.headers["WWW-Authenticate"].startswith("Basic")
        for wrong in (basic("prometheus", "nope"), basic("root", PASSWORD)):
            async with session.get(url + path, ssl=context, headers=wrong) as response:
                assert response.status == 401, path
        async with session.get(url + path, ssl=context, headers=good) as response:
            assert response.status == 200, path
            assert response.headers["X-Content-Type-Options"] == "nosniff"
    # The intake authenticates with its own token (one Authorization header), over TLS.
    item = {"account": "eu", "id": "00000000-0000-4000-8000-000000000001"}
    async with session.post(f"{url}/api/v1/messages", json=item, ssl=context) as response:
        assert response.status == 401
    async with session.post(
        f"{url}/api/v1/messages",
        json=item,
        ssl=context,
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as response:
        assert response.status == 202
    # Plain HTTP on the TLS port gets nothing.
    with pytest.raises(aiohttp.ClientError):
        async with session.get(url.replace("https", "http") + "/metrics", headers=good) as response:
            await response.read()
    log = "\n".join(process.log() for process in processes)
    assert PASSWORD not in log
    assert TOKEN not in log


async def test_client_certificates(
    tmp_path: Path, pki: Path, processes: list[ExporterProcess], session: aiohttp.ClientSession
) -> None:
    web = web_config(tmp_path, pki, client_auth_type="RequireAndVerifyClientCert",
                     client_ca_file=str(pki / "ca.crt"))  # fmt: skip
    with_certificate = client_context(pki, certificate=True)
    url = await start(tmp_path, web, processes, session, with_certificate)
    with pytest.raises(aiohttp.ClientError):
        async with session.get(f"{url}/-/healthy", ssl=client_context(pki)) as response:
            await response.read()


async def test_failed_handshakes_and_idle_connections_beyond_the_cap(
    tmp_path: Path, pki: Path, processes: list[ExporterProcess], session: aiohttp.ClientSession
) -> None:
    context = client_context(pki)
    web = web_config(tmp_path, pki)
    url = await start(tmp_path, web, processes, session, context, "--web.max-connections", "4")
    port = int(url.rsplit(":", 1)[1])
    opened: list[asyncio.StreamWriter] = []
    try:
        for _ in range(20):  # not TLS at all: the handshake fails
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /metrics HTTP/1.1\r\n\r\n")
            opened.append(writer)
        for _ in range(10):  # TLS, then silence
            _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
            opened.append(writer)
        async with session.get(
            f"{url}/metrics", ssl=context, headers=basic("prometheus", PASSWORD)
        ) as response:
            assert response.status == 200
    finally:
        for writer in opened:
            writer.close()


@pytest.mark.skipif(shutil.which("prometheus") is None, reason="needs Debian's prometheus")
async def test_prometheus_scrapes_over_https_with_basic_auth(
    tmp_path: Path, pki: Path, processes: list[ExporterProcess], session: aiohttp.ClientSession
) -> None:
    context = client_context(pki)
    url = await start(tmp_path, web_config(tmp_path, pki), processes, session, context)
    target = url.removeprefix("https://")
    prometheus = Server("prometheus", tmp_path)

    def job(name: str, password: str) -> dict[str, Any]:
        return {
            "job_name": name,
            "scheme": "https",
            "tls_config": {"ca_file": str(pki / "ca.crt")},
            "basic_auth": {"username": "prometheus", "password": password},
            "static_configs": [{"targets": [target]}],
        }

    config = {
        "global": {"scrape_interval": "1s"},
        "scrape_configs": [job("right", PASSWORD), job("wrong", "not-the-password")],
    }
    (prometheus.workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    prometheus.start(
        [
            "prometheus",
            "--config.file=prometheus.yml",
            f"--web.listen-address=127.0.0.1:{prometheus.port}",
            f"--storage.tsdb.path={prometheus.workdir / 'data'}",
        ]
    )
    try:

        async def up() -> dict[str, float] | None:
            try:
                async with session.get(
                    f"{prometheus.url}/api/v1/query", params={"query": "up"}
                ) as response:
                    data = await response.json()
            except aiohttp.ClientError:
                return None
            values = {r["metric"]["job"]: float(r["value"][1]) for r in data["data"]["result"]}
            return values if len(values) == 2 else None

        values = await wait_for(up, timeout=60, interval=0.5, what="both jobs scraped")
        assert values == {"right": 1.0, "wrong": 0.0}, prometheus.log()

        async def scraped_metric() -> bool:
            async with session.get(
                f"{prometheus.url}/api/v1/query",
                params={"query": 'sms_exporter_store_healthy{job="right"}'},
            ) as response:
                return bool((await response.json())["data"]["result"])

        await wait_for(scraped_metric, timeout=30, what="the exporter's metrics in Prometheus")
    finally:
        prometheus.stop()

"""The web endpoints, the /metrics format (promtool), and what must never leak."""

from __future__ import annotations

import logging
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.registry import Collector

from sms_delivery_exporter.cli.serve import exposure_problem
from sms_delivery_exporter.outcomes import SPECS, OutcomeBook, OutcomeRenderer
from sms_delivery_exporter.outcomes.catalogue import BUCKET_LABELS
from sms_delivery_exporter.testing import Scenario
from tests.conftest import API_KEY
from tests.helpers import make_config, namirial_account, parse_samples, wait_for

Start = Callable[..., Any]
TOKEN = "intake-token-do-not-leak"


async def running(
    tmp_path: Path, start_namirial: Start, start_exporter: Start, **scenario: Any
) -> Any:
    simulator, url = await start_namirial(Scenario(latency_median=0.2, **scenario))
    config, _ = make_config(
        tmp_path,
        {"eu": namirial_account(url, API_KEY)},
        # A permissive pattern: the renderer's escaping is tested with quotes and backslashes.
        intake={"token": TOKEN, "labels": {"keys": ["team"], "patterns": {"team": ".*"}}},
    )
    exporter, client = await start_exporter(config)
    return simulator, exporter, client


class TestEndpoints:
    """Landing page, health and readiness."""

    async def test_landing_page(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        _, _, client = await running(tmp_path, start_namirial, start_exporter)
        page = await (await client.get("/")).text()
        assert "eu" in page and "namirial" in page and 'href="/metrics"' in page
        assert API_KEY not in page and TOKEN not in page

    async def test_health_and_readiness(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        _, exporter, client = await running(tmp_path, start_namirial, start_exporter)
        assert (await client.get("/-/healthy")).status == 200
        assert (await client.get("/-/ready")).status == 200
        exporter.parts.readiness.polling = False
        assert (await client.get("/-/ready")).status == 503

    async def test_metrics_zero_initialised_and_negotiated(
        self, tmp_path: Path, start_namirial: Start, start_exporter: Start
    ) -> None:
        _, _, client = await running(tmp_path, start_namirial, start_exporter)
        response = await client.get("/metrics")
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        samples = parse_samples(await response.text())
        labels = {
            "provider": "namirial",
            "account": "eu",
            "channel": "sms",
            "status": "delivered",
            "team": "",
        }
        assert samples[("sms_messages_final_total", frozenset(labels.items()))] == 0
        [build] = [labels for name, labels in samples if name == "sms_exporter_build_info"]
        info = dict(build)
        assert info["version"] == "0.1.0"
        assert info["python_version"] == platform.python_version()
        # Run from this checkout: the revision is its HEAD.
        assert len(info["revision"]) == 12 and info["revision"] != "unknown"
        for name in ("process_resident_memory_bytes", "python_info"):
            assert any(sample == name for sample, _ in samples), name
        open_metrics = await client.get(
            "/metrics", headers={"Accept": "application/openmetrics-text"}
        )
        assert open_metrics.headers["Content-Type"].startswith("application/openmetrics-text")
        assert (await open_metrics.text()).endswith("# EOF\n")


@pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool not installed (make test installs it as root)",
)
async def test_promtool_check_metrics(
    tmp_path: Path, start_namirial: Start, start_exporter: Start
) -> None:
    """The exposition passes promtool's lint, with traffic of every outcome in it."""
    simulator, _, client = await running(
        tmp_path,
        start_namirial,
        start_exporter,
        rcs_share=0.5,
        read_share=0.5,
        undelivered=0.2,
        rejected=0.2,
    )
    ids = [m.id for m in simulator.send(30)]
    body = [{"account": "eu", "id": i, "labels": {"team": "payments"}} for i in ids]
    assert (
        await client.post(
            "/api/v1/messages", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
        )
    ).status == 202

    async def some_final() -> bool:
        samples = parse_samples(await (await client.get("/metrics")).text())
        return sum(v for (n, _), v in samples.items() if n == "sms_messages_final_total") >= 10

    await wait_for(some_final, what="ten final messages")
    text = await (await client.get("/metrics")).text()
    result = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


class TestNeverLeaked:
    """Secrets, message ids and numbers stay out of logs and metrics."""

    async def test_logs_and_metrics_carry_no_secret_or_id(
        self,
        tmp_path: Path,
        start_namirial: Start,
        start_exporter: Start,
        caplog: pytest.LogCaptureFixture,
    ) -> None:
        simulator, url = await start_namirial(
            Scenario(error_rate=0.3, throttle_rate=0.1, malformed_rate=0.1)
        )
        config, _ = make_config(
            tmp_path,
            {"eu": namirial_account(url, API_KEY), "bad": namirial_account(url, "wrong-key-xyz")},
            intake={"token": TOKEN},
        )
        exporter, client = await start_exporter(config)
        messages = simulator.send(10)
        headers = {"Authorization": f"Bearer {TOKEN}"}
        with caplog.at_level(logging.DEBUG):
            for account in ("eu", "bad"):
                body = [{"account": account, "id": m.id} for m in messages]
                assert (
                    await client.post("/api/v1/messages", json=body, headers=headers)
                ).status == 202
            await wait_for(
                lambda: (
                    (
                        exporter.sample(
                            "sms_exporter_provider_errors_total",
                            {"provider": "namirial", "account": "bad", "kind": "auth"},
                        )
                        or 0
                    )
                    >= 1
                ),
                what="an auth failure",
            )
            metrics = await (await client.get("/metrics")).text()
        # The simulator's own access log (same process) names ids in paths; the exporter must not.
        ours = [r for r in caplog.records if r.name != "aiohttp.access"]
        assert ours
        logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in ours)
        for secret in (
            API_KEY,
            "wrong-key-xyz",
            TOKEN,
            *(m.id for m in messages),
            *(m.number for m in messages),
        ):
            assert secret not in logged
            assert secret not in metrics


class TestExposure:
    """The intake is not opened to the network without a token unless the config says so."""

    def test_rules(self, tmp_path: Path) -> None:
        account = {"eu": namirial_account("http://127.0.0.1:1", "k")}
        open_config, _ = make_config(tmp_path, account)
        assert exposure_problem(open_config, "127.0.0.1") is None
        assert exposure_problem(open_config, "::1") is None
        assert "without a token" in (exposure_problem(open_config, "0.0.0.0") or "")
        with_token, _ = make_config(tmp_path, account, intake={"token": "t"})
        # A token beyond loopback travels only over TLS, unless the config opts out.
        assert "in clear" in (exposure_problem(with_token, "0.0.0.0") or "")
        assert exposure_problem(with_token, "0.0.0.0", tls=True) is None
        plaintext, _ = make_config(tmp_path, account, intake={"token": "t", "require_tls": False})
        assert exposure_problem(plaintext, "0.0.0.0") is None
        explicit, _ = make_config(tmp_path, account, intake={"auth": "none"})
        assert exposure_problem(explicit, "10.0.0.1") is None
        disabled, _ = make_config(tmp_path, account, intake={"enabled": False})
        assert exposure_problem(disabled, "0.0.0.0") is None
        # A push token travels in the webhook URL: the same rule.
        push = {"eu": {**account["eu"], "push": {"token": "p" * 24}}}
        pushed, _ = make_config(tmp_path, push, intake={"enabled": False})
        assert "push token of account eu" in (exposure_problem(pushed, "0.0.0.0") or "")
        assert exposure_problem(pushed, "0.0.0.0", tls=True) is None
        assert exposure_problem(pushed, "127.0.0.1") is None
        behind_proxy, _ = make_config(
            tmp_path, push, intake={"enabled": False, "require_tls": False}
        )
        assert exposure_problem(behind_proxy, "0.0.0.0") is None

    def test_cli_refuses_to_start(self, tmp_path: Path) -> None:
        _, text = make_config(tmp_path, {"eu": namirial_account("http://127.0.0.1:1", "k")})
        path = tmp_path / "config.yaml"
        path.write_text(text)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "sms_delivery_exporter",
                "--config.file",
                str(path),
                "--web.listen-address",
                "0.0.0.0:0",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 1
        assert "intake.token" in result.stderr
        assert not (tmp_path / "store.db").exists()


class _Reference(Collector):
    """The outcome series as prometheus_client's own families: what the fast renderer must match."""

    def __init__(self, book: OutcomeBook) -> None:
        self.book = book

    def collect(self) -> Iterator[Metric]:
        catalogue = self.book.catalogue
        for spec in SPECS:
            if spec.kind == "histogram":
                sums = self.book.values[spec.name + "_sum"]
                buckets = self.book.values[spec.name + "_bucket"]
                family = HistogramMetricFamily(
                    spec.name,
                    spec.documentation,
                    labels=catalogue.label_names(spec.name + "_sum"),
                )
                le_at = len(spec.labels)
                for key, total in sums.items():
                    labels = catalogue.labels(spec.name + "_sum", key)
                    cumulative, rendered = 0.0, []
                    for le in BUCKET_LABELS:
                        bucket = catalogue.key(
                            spec.name + "_bucket", (*labels[:le_at], le, *labels[le_at:])
                        )
                        cumulative += buckets.get(bucket, 0.0)
                        rendered.append((le, cumulative))
                    family.add_metric(labels, rendered, sum_value=total)
                yield family
                continue
            kind = CounterMetricFamily if spec.kind == "counter" else GaugeMetricFamily
            plain = kind(spec.name, spec.documentation, labels=catalogue.label_names(spec.name))
            for key, value in self.book.values[spec.name].items():
                plain.add_metric(catalogue.labels(spec.name, key), value)
            yield plain


async def test_fast_rendering_matches_prometheus_client(
    tmp_path: Path, start_namirial: Start, start_exporter: Start
) -> None:
    """The outcome renderer says exactly what prometheus_client would, in both formats."""
    simulator, exporter, client = await running(
        tmp_path, start_namirial, start_exporter, rcs_share=0.5, read_share=0.5, undelivered=0.3
    )
    body = [{"account": "eu", "id": m.id, "labels": {"team": 'a"b\\c'}} for m in simulator.send(20)]
    headers = {"Authorization": f"Bearer {TOKEN}"}
    assert (await client.post("/api/v1/messages", json=body, headers=headers)).status == 202
    book: OutcomeBook = exporter.parts.book

    def delivered() -> float:
        return sum(
            book.value(
                "sms_messages_final_total",
                provider="namirial",
                account="eu",
                channel=channel,
                status="delivered",
                team='a"b\\c',
            )
            for channel in ("sms", "rcs")
        )

    await wait_for(lambda: delivered() > 0, what="a delivery")
    registry = CollectorRegistry()
    registry.register(_Reference(book))
    renderer = OutcomeRenderer(book)
    assert parse_samples(renderer.render()) == parse_samples(generate_latest(registry).decode())
    openmetrics = renderer.render(openmetrics=True) + "# EOF\n"
    reference = generate_openmetrics(registry).decode()  # type: ignore[no-untyped-call]
    assert _openmetrics_samples(openmetrics) == _openmetrics_samples(reference)


def _openmetrics_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples through prometheus_client's strict OpenMetrics parser (it refuses bad syntax)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in openmetrics_families(text)  # type: ignore[no-untyped-call]
        for sample in family.samples
    }

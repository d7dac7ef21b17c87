"""The README documents every metric the exporter exposes and every reason a provider reports."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sms_delivery_exporter.app import PARTS, create_app
from tests.helpers import make_config, namirial_account, providers

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def test_every_metric_in_the_reference(tmp_path: Path) -> None:
    pushed = namirial_account("http://127.0.0.1:1", "k", push={"token": "t" * 24})
    config, _ = make_config(
        tmp_path, {"eu": namirial_account("http://127.0.0.1:1", "k"), "pushed": pushed}
    )
    body, _ = create_app(config)[PARTS].exposition.render()
    names = set()
    for family in text_string_to_metric_families(body.decode()):
        names.add(family.name + "_total" if family.type == "counter" else family.name)
    assert len(names) > 15
    # prometheus-client's process and platform collectors share one row.
    ours = {name for name in names if not name.startswith(("process_", "python_"))}
    assert "| `process_*`, `python_info` |" in README
    missing = sorted(name for name in ours if f"| `{name}` |" not in README)
    assert missing == []


def test_every_reason_in_the_table() -> None:
    """Reasons polls report, and those only webhooks do (SFMC ENS bounces)."""
    missing = [
        f"{name}/{reason}"
        for name, provider in providers().items()
        for reason in provider.reasons | (provider.push.reasons if provider.push else set())
        if f"| `{name}` | `{reason}` |" not in README
    ]
    assert missing == []


def test_quick_start_first() -> None:
    quick_start = README.index("## Quick start")
    assert quick_start < README.index("## Usage")
    assert "make demo" in README[quick_start : README.index("## Usage")]
    assert "make test" in README[quick_start : README.index("## Usage")]

"""The import contracts cover every module: a package or provider module added later is
held by them, not left outside a contract that then passes for want of anything to check."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
HOST = ROOT / "exporter"
PROVIDERS = ROOT / "plugins"


def contract(name_start: str) -> dict[str, Any]:
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"][
        "contracts"
    ]
    [found] = [c for c in contracts if c["name"].startswith(name_start)]
    result: dict[str, Any] = found
    return result


def matches(pattern: str, module: str) -> bool:
    """Import-linter's expressions: ``*`` stands for one part of a dotted name."""
    return re.fullmatch(re.escape(pattern).replace(r"\*", r"[^.]+"), module) is not None


def host_packages() -> set[str]:
    return {
        path.stem if path.is_file() else path.name
        for path in HOST.iterdir()
        if (path.suffix == ".py" or (path / "__init__.py").exists())
        and path.name not in ("__init__.py", "__main__.py")
    }


def test_every_provider_module_but_the_simulators_is_kept_off_the_simulator_kit() -> None:
    sources = contract("Production provider code")["source_modules"]
    modules = []
    for path in sorted(PROVIDERS.rglob("*.py")):
        parts = list(path.relative_to(PROVIDERS).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules.append(".".join(["sms_delivery_providers", *parts]))
    production = [m for m in modules if "simulator" not in m.rsplit(".", 1)[-1]]
    assert len(production) > 20
    assert [m for m in production if not any(matches(p, m) for p in sources)] == []
    # ... and no simulator is among them (they may use the kit).
    simulators = [m for m in modules if m not in production]
    assert simulators
    assert [m for m in simulators if any(matches(p, m) for p in sources)] == []


def test_every_host_package_is_a_layer() -> None:
    layers = contract("The host's layers")["layers"]
    named = {part.strip() for layer in layers for part in layer.split("|")}
    assert host_packages() - named == {"testing"}  # the simulator kit: contracts of its own


def test_every_production_host_package_is_kept_off_the_simulator_kit() -> None:
    sources = contract("Production host code")["source_modules"]
    named = {source.removeprefix("sms_delivery_exporter.") for source in sources}
    assert host_packages() - named == {"cli", "testing"}  # the demo runs the simulators

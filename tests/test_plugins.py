"""The plugin host: entry-point discovery, broken plugins skipped, duplicate names refused."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pytest

from sms_delivery_exporter.hookspecs import PROJECT_NAME, hookimpl
from sms_delivery_exporter.plugin_manager import PluginError, collect_providers, make_plugin_manager
from sms_delivery_exporter.provider import (
    Provider,
    ProviderClass,
    ProviderSettings,
    RefModel,
    RefReport,
)


def install_distribution(root: Path, name: str, entry_points: str, module: str = "") -> None:
    """A throwaway installed distribution: real metadata that importlib.metadata discovers."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{PROJECT_NAME}]\n{entry_points}\n")
    if module:
        (root / f"{name}.py").write_text(module)


class EchoRef(RefModel):
    id: str


class Impostor(Provider[ProviderSettings, EchoRef]):
    name = "namirial"
    Settings = ProviderSettings
    Ref = EchoRef
    reasons = frozenset()

    async def fetch_one(self, ref: EchoRef) -> RefReport:
        return RefReport([])


class ImpostorPlugin:
    @hookimpl
    def register_providers(self) -> Sequence[ProviderClass]:
        return [Impostor]


class TestDiscovery:
    """Plugins come from entry points, the built-in ones included."""

    def test_builtin_namirial(self) -> None:
        providers = collect_providers(make_plugin_manager())
        assert "namirial" in providers
        assert providers["namirial"].__module__ == "sms_delivery_providers.namirial.provider"

    def test_without_entry_points_nothing_is_loaded(self) -> None:
        assert collect_providers(make_plugin_manager(load_entry_points=False)) == {}

    def test_third_party_plugin(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        module = """
from sms_delivery_exporter.hookspecs import hookimpl
from sms_delivery_exporter.provider import Provider, ProviderSettings, RefModel

class AcmeRef(RefModel):
    id: str

class Acme(Provider):
    name = "acme"
    Settings = ProviderSettings
    Ref = AcmeRef
    reasons = frozenset()

@hookimpl
def register_providers():
    return [Acme]
"""
        install_distribution(tmp_path, "acme_sms", "acme = acme_sms", module)
        monkeypatch.syspath_prepend(str(tmp_path))
        assert "acme" in collect_providers(make_plugin_manager())

    def test_broken_plugin_skipped_with_warning(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        install_distribution(
            tmp_path, "broken_sms", "broken = broken_sms", "raise ImportError('oops')\n"
        )
        monkeypatch.syspath_prepend(str(tmp_path))
        with caplog.at_level(logging.WARNING):
            providers = collect_providers(make_plugin_manager())
        assert "namirial" in providers
        [record] = [r for r in caplog.records if "failed to load" in r.getMessage()]
        assert record.plugin == "broken"  # type: ignore[attr-defined]
        assert "oops" in record.error  # type: ignore[attr-defined]


class TestRefusals:
    """Two providers with one name, or a hook returning junk, are refused with a clear message."""

    def test_duplicate_names_both_named(self) -> None:
        manager = make_plugin_manager()
        manager.register(ImpostorPlugin(), name="impostor")
        with pytest.raises(PluginError) as raised:
            collect_providers(manager)
        message = str(raised.value)
        assert "'namirial' is registered twice" in message
        assert "NamirialProvider" in message and "Impostor" in message
        manager.unregister(name="impostor")

    def test_hook_returning_non_provider(self) -> None:
        class Junk:
            @hookimpl
            def register_providers(self) -> Sequence[object]:
                return ["not a class"]

        manager = make_plugin_manager(load_entry_points=False)
        manager.register(Junk())
        with pytest.raises(PluginError, match="not a Provider class"):
            collect_providers(manager)

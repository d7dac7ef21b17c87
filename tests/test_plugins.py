"""The plugin host: discovery, isolation of each plugin, unknown hooks, duplicates, the API."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import pytest

import sms_delivery_exporter.api as api
from sms_delivery_exporter.api import (
    PROJECT_NAME,
    Provider,
    ProviderClass,
    ProviderSettings,
    RefModel,
    RefReport,
    hookimpl,
)
from sms_delivery_exporter.plugin_host import PluginError, collect_providers, make_plugin_manager
from tests.helpers import config_check

BUILT_IN = {"d7", "namirial", "sfmc_mobileconnect", "sfmc_transactional"}

ACME = """
from sms_delivery_exporter.api import Provider, ProviderSettings, RefModel, hookimpl

class AcmeRef(RefModel):
    id: str

class Acme(Provider):
    name = "acme"
    Settings = ProviderSettings
    Ref = AcmeRef
    reasons = frozenset()
"""


def install_distribution(root: Path, name: str, module: str) -> None:
    """A throwaway installed distribution: real metadata that importlib.metadata discovers."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{PROJECT_NAME}]\n{name} = {name}\n")
    (root / f"{name}.py").write_text(textwrap.dedent(module))


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder on sys.path for throwaway distributions, removed after the test."""
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def warnings_about(caplog: pytest.LogCaptureFixture, plugin: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if getattr(r, "plugin", None) == plugin]


class TestDiscovery:
    """Plugins come from entry points, the built-in ones included."""

    def test_builtin_providers(self) -> None:
        providers = collect_providers(make_plugin_manager())
        assert set(providers) >= BUILT_IN
        assert providers["namirial"].__module__ == "sms_delivery_providers.namirial.provider"

    def test_without_entry_points_nothing_is_loaded(self) -> None:
        assert collect_providers(make_plugin_manager(load_entry_points=False)) == {}

    def test_third_party_plugin(self, site: Path) -> None:
        install_distribution(
            site, "acme_sms", ACME + "\n@hookimpl\ndef register_providers():\n    return [Acme]\n"
        )
        providers = collect_providers(make_plugin_manager())
        assert "acme" in providers
        assert set(providers) >= BUILT_IN


class TestIsolation:
    """Each kind of broken plugin is logged with its distribution's name and skipped; the
    built-in providers still load."""

    def check(
        self, site: Path, caplog: pytest.LogCaptureFixture, name: str, module: str, what: str
    ) -> logging.LogRecord:
        install_distribution(site, name, module)
        with caplog.at_level(logging.WARNING):
            providers = collect_providers(make_plugin_manager())
        assert set(providers) >= BUILT_IN
        assert "acme" not in providers
        [record] = warnings_about(caplog, name)
        assert what in record.getMessage()
        assert record.distribution == name  # type: ignore[attr-defined]
        return record

    def test_entry_point_that_fails_to_import(
        self, site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        record = self.check(
            site, caplog, "broken_sms", "raise ImportError('oops')\n", "failed to load"
        )
        assert "oops" in record.error  # type: ignore[attr-defined]

    def test_hookimpl_that_does_not_match_the_spec(
        self, site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        module = ACME + "\n@hookimpl\ndef register_providers(config):\n    return [Acme]\n"
        record = self.check(site, caplog, "mismatch_sms", module, "does not match the plugin API")
        assert "config" in record.error  # type: ignore[attr-defined]

    def test_hook_that_raises(self, site: Path, caplog: pytest.LogCaptureFixture) -> None:
        module = (
            ACME + "\n@hookimpl\ndef register_providers():\n    raise RuntimeError('bad day')\n"
        )
        record = self.check(site, caplog, "raising_sms", module, "failed to register its providers")
        assert "bad day" in record.error  # type: ignore[attr-defined]

    @pytest.mark.parametrize(
        ("returned", "problem"),
        [
            ('["not a class"]', "not a Provider class"),
            ("object", "not a list of Provider classes"),
            ("[type('NoName', (Acme,), {'name': ''})]", "has no name"),
            ("[type('NoRef', (Acme,), {'Ref': dict})]", "has no Ref model"),
            ("[type('NoReasons', (Acme,), {'reasons': ['x']})]", "has no reasons"),
        ],
    )
    def test_hook_returning_junk(
        self, site: Path, caplog: pytest.LogCaptureFixture, returned: str, problem: str
    ) -> None:
        module = ACME + f"\n@hookimpl\ndef register_providers():\n    return {returned}\n"
        # A module name of its own per case: Python caches imported modules.
        name = f"junk_{abs(hash(returned))}"
        record = self.check(site, caplog, name, module, "failed to register")
        assert problem in record.error  # type: ignore[attr-defined]

    def test_misspelt_hook_is_warned_about(
        self, site: Path, caplog: pytest.LogCaptureFixture
    ) -> None:
        module = ACME + "\n@hookimpl\ndef register_provider():\n    return [Acme]\n"
        install_distribution(site, "typo_sms", module)
        with caplog.at_level(logging.WARNING):
            providers = collect_providers(make_plugin_manager())
        assert set(providers) >= BUILT_IN
        [record] = warnings_about(caplog, "typo_sms")
        assert "misspelt" in record.getMessage()
        assert record.hook == "register_provider"  # type: ignore[attr-defined]

    def test_config_check_survives_a_broken_plugin(self, site: Path) -> None:
        install_distribution(site, "broken_sms", "raise ImportError('oops')\n")
        config = site / "config.yaml"
        config.write_text(
            "accounts:\n  eu: {provider: namirial, api_key: k, base_url: 'http://127.0.0.1:1'}\n"
        )
        result = config_check(config, {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"})
        assert result.returncode == 0, result.stderr
        assert "OK" in result.stdout
        assert "broken_sms" in result.stderr and "Traceback" not in result.stderr


class Impostor(Provider[ProviderSettings, RefModel]):
    name = "namirial"
    Settings = ProviderSettings
    Ref = RefModel
    reasons = frozenset()

    async def fetch_one(self, ref: RefModel) -> RefReport:
        return RefReport([])


class ImpostorPlugin:
    @hookimpl
    def register_providers(self) -> Sequence[ProviderClass]:
        return [Impostor]


def test_duplicate_names_refused_naming_both() -> None:
    """No choice between two plugins claiming one name is safe: the exporter refuses to start."""
    manager = make_plugin_manager()
    manager.add_plugin(ImpostorPlugin(), "impostor", "impostor-sms")
    with pytest.raises(PluginError) as raised:
        collect_providers(manager)
    message = str(raised.value)
    assert "'namirial' is registered twice" in message
    assert "NamirialProvider" in message and "Impostor" in message
    assert "impostor-sms" in message


class TestApi:
    """The plugin API is one declared module; plugins and the running host keep to it."""

    def test_all_names_exist_and_are_documented(self) -> None:
        for name in api.__all__:
            assert hasattr(api, name), name
        assert api.API_VERSION.count(".") == 1
        assert "register_providers" in (api.__doc__ or "")

    def test_production_code_never_loads_the_simulator_kit(self, tmp_path: Path) -> None:
        """Loading every plugin and building a running exporter imports no simulator."""
        script = textwrap.dedent(
            """
            import sys
            from sms_delivery_exporter.app import create_app
            from sms_delivery_exporter.config import parse_config
            from sms_delivery_exporter.plugin_host import collect_providers, make_plugin_manager
            providers = collect_providers(make_plugin_manager())
            accounts = (
                "accounts:\\n"
                "  a: {provider: namirial, api_key: k}\\n"
                "  b: {provider: d7, api_token: t}\\n"
                "  c: {provider: sfmc_transactional, client_id: c, client_secret: s,"
                " subdomain: x}\\n"
                "  d: {provider: sfmc_mobileconnect, client_id: c, client_secret: s,"
                " legacy: true}\\n"
            )
            create_app(parse_config(accounts, providers, {}))
            loaded = sorted(m for m in sys.modules if "testing" in m or "simulator" in m)
            print(loaded)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert result.stdout.strip() == "[]", result.stdout

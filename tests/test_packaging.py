"""The wheel installs import names unique to this project, and every module of the repository."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IMPORT_NAMES = {"exporter": "sms_delivery_exporter", "plugins": "sms_delivery_providers"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """The wheel built from a copy of the sources, as `pip install .` would build it."""
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for folder in IMPORT_NAMES:
        shutil.copytree(
            ROOT / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__")
        )
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
    )
    [built] = out.glob("*.whl")
    return zipfile.ZipFile(built)


class TestWheel:
    """What `pip install sms-delivery-exporter` puts on sys.path."""

    def test_top_level_names_are_the_projects_own(self, wheel: zipfile.ZipFile) -> None:
        top = {name.split("/", 1)[0] for name in wheel.namelist()}
        packages = {name for name in top if not name.endswith(".dist-info")}
        assert packages == set(IMPORT_NAMES.values())
        assert "exporter" not in top and "plugins" not in top

    def test_every_module_of_the_repository_is_in_it(self, wheel: zipfile.ZipFile) -> None:
        names = set(wheel.namelist())
        for folder, import_name in IMPORT_NAMES.items():
            for path in (ROOT / folder).rglob("*.py"):
                if "__pycache__" in path.parts:
                    continue
                relative = path.relative_to(ROOT / folder).as_posix()
                assert f"{import_name}/{relative}" in names, f"{folder}/{relative} is not packaged"
            assert f"{import_name}/py.typed" in names

    def test_entry_points_name_the_installed_modules(self, wheel: zipfile.ZipFile) -> None:
        [entry_points] = [n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt")]
        parser = configparser.ConfigParser()
        parser.read_string(wheel.read(entry_points).decode())
        assert (
            parser["console_scripts"]["sms-delivery-exporter"] == "sms_delivery_exporter.cli:main"
        )
        providers = dict(parser["sms_delivery_exporter"])
        assert set(providers) == {"d7", "namirial", "sfmc_transactional", "sfmc_mobileconnect"}
        assert all(value.startswith("sms_delivery_providers.") for value in providers.values())


def test_python_dash_m_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "sms_delivery_exporter", "--version"],
        capture_output=True,
        text=True,
        check=False,
        cwd="/",  # not the repository: the installed names must be enough
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("sms-delivery-exporter ")

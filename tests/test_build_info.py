"""What sms_exporter_build_info says about the running code."""

from __future__ import annotations

from pathlib import Path

import pytest

from sms_delivery_exporter.metrics.build_info import REVISION_VARIABLE, revision


def test_the_image_build_argument_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(REVISION_VARIABLE, "0123456789abcdef0123456789abcdef01234567")
    assert revision() == "0123456789abcdef0123456789abcdef01234567"


def test_a_checkout_gives_its_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(REVISION_VARIABLE, raising=False)
    package = tmp_path / "exporter"
    (tmp_path / ".git" / "refs" / "heads").mkdir(parents=True)
    (tmp_path / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (tmp_path / ".git" / "refs" / "heads" / "main").write_text("f155f6f2" + "0" * 32 + "\n")
    assert revision(package) == "f155f6f20000"


def test_an_installed_package_without_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REVISION_VARIABLE, raising=False)
    assert revision(tmp_path / "site-packages" / "sms_delivery_exporter") == "unknown"


def test_a_worktree_gives_its_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `git worktree`: .git is a file naming the worktree's folder; refs are in the common one."""
    monkeypatch.delenv(REVISION_VARIABLE, raising=False)
    common = tmp_path / "main" / ".git"
    own = common / "worktrees" / "wt"
    own.mkdir(parents=True)
    (common / "refs" / "heads").mkdir(parents=True)
    (own / "HEAD").write_text("ref: refs/heads/push\n")
    (own / "commondir").write_text("../..\n")
    (common / "refs" / "heads" / "push").write_text("4b3a15ac" + "0" * 32 + "\n")
    checkout = tmp_path / "wt"
    checkout.mkdir()
    (checkout / ".git").write_text(f"gitdir: {own}\n")
    assert revision(checkout / "exporter") == "4b3a15ac0000"

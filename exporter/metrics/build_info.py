"""What ``sms_exporter_build_info`` says: the version, the source revision, the Python."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REVISION_VARIABLE = "SMS_DELIVERY_EXPORTER_REVISION"
"""Set by the image build (``--build-arg REVISION=...``); else read from a git checkout."""


@dataclass(frozen=True, slots=True)
class BuildInfo:
    version: str
    revision: str
    python_version: str


def build_info(version: str) -> BuildInfo:
    return BuildInfo(version, revision(), platform.python_version())


def revision(package_dir: Path = PACKAGE_DIR) -> str:
    """The commit the code runs from: the environment's word, a checkout's HEAD, or unknown."""
    given = os.environ.get(REVISION_VARIABLE, "").strip()
    if given:
        return given[:40]
    git = package_dir.parent / ".git"
    try:
        if git.is_file():  # a linked worktree: ".git" names its own git folder
            git = Path(git.read_text().strip().removeprefix("gitdir: "))
        head = (git / "HEAD").read_text().strip()
        if head.startswith("ref: "):
            head = _ref(git, head.removeprefix("ref: "))
    except OSError:
        return "unknown"
    return head[:12] if all(c in "0123456789abcdef" for c in head) and head else "unknown"


def _ref(git: Path, name: str) -> str:
    """A branch's commit, in the git folder or the one a worktree shares (loose or packed)."""
    common = git / "commondir"
    folders = [git] + ([git / common.read_text().strip()] if common.is_file() else [])
    for folder in folders:
        if (folder / name).is_file():
            return (folder / name).read_text().strip()
        packed = folder / "packed-refs"
        if packed.is_file():
            for line in packed.read_text().splitlines():
                if line.endswith(" " + name):
                    return line.split(" ", 1)[0]
    raise FileNotFoundError(name)

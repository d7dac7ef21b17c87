"""Whether the store can be trusted to keep what it acknowledges: its problems, by kind.

A store with any problem makes ``/-/ready`` fail and the intake answer 503,
so that nothing is acknowledged that was not committed. Problems come from
two places: a store operation that failed (a commit refused for a full disk,
a read that found a corrupt page) and the periodic check of
:mod:`.watch` (the file deleted or replaced, the file system full, a write
probe refused, a failed integrity check).
"""

from __future__ import annotations

from dataclasses import dataclass, field

PROBLEMS = ("missing", "unwritable", "corrupt", "unreachable")
"""``missing``: the file was deleted or replaced while open (what is committed now goes to a
file nobody can open again); ``unwritable``: commits fail (disk full, read-only file or
file system, I/O errors; a read-only database); ``corrupt``: SQLite found a damaged page or
the integrity check failed; ``unreachable``: PostgreSQL cannot be reached (down, restarting,
the network)."""


class StoreUnavailable(Exception):
    """The store cannot keep what would be acknowledged now: nothing was kept (retry later)."""


@dataclass(slots=True)
class StoreHealth:
    """The store's current problems, and how often each has appeared."""

    problems: dict[str, str] = field(default_factory=dict)
    """Problem kind -> what is wrong, for the log and the readiness answer."""
    appeared: dict[str, int] = field(default_factory=lambda: dict.fromkeys(PROBLEMS, 0))
    """How many times each kind of problem appeared (a counter for /metrics)."""

    @property
    def healthy(self) -> bool:
        return not self.problems

    def report(self, kind: str, message: str) -> None:
        if kind not in self.problems:
            self.appeared[kind] += 1
        self.problems[kind] = message

    def clear(self, kind: str) -> None:
        self.problems.pop(kind, None)

    def check(self) -> None:
        """:class:`StoreUnavailable` while a problem lasts: acknowledging what a vanished or
        damaged store may lose would lie to the sender (the intake's, a provider)."""
        if self.problems:
            raise StoreUnavailable(self.describe())

    def describe(self) -> str:
        return "; ".join(f"{kind}: {message}" for kind, message in sorted(self.problems.items()))

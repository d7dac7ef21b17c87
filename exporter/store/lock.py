"""One exporter per store file: an exclusive lock held for as long as the store is open.

Two exporters on one SQLite file would both poll every ref and count every
final status twice, and every later restart would restore the doubled
counters. The lock is a ``flock`` on a file beside the store
(``state.db.lock``): the kernel drops it when the process ends, even after
``kill -9``, so a stale lock never blocks a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from sms_delivery_exporter.store.interface import StoreError


def lock_path(store: Path) -> Path:
    return store.with_name(store.name + ".lock")


class StoreLock:
    """The exclusive lock of one store file."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.path = lock_path(store)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or :class:`StoreError` naming the store and the process holding it."""
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot create the lock file {self.path} of the store {self.store}: {exc.strerror}"
            ) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _read_pid(fd)
            os.close(fd)
            by = f" (pid {holder})" if holder else ""
            raise StoreError(
                f"the store {self.store} is in use by another exporter{by}: two exporters on one"
                " store would count every final status twice; stop the other one or give this"
                " one its own store.path"
            ) from None
        # Who holds it, for the message above and for people; the lock is the flock itself.
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _read_pid(fd: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        return str(int(os.pread(fd, 32, 0).decode().strip()))
    return ""

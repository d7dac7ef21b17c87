"""A throwaway PostgreSQL cluster for tests: initdb and pg_ctl in a temporary folder.

Debian's ``postgresql`` package (``make test`` installs it as root); the
cluster listens on 127.0.0.1 on a free port, with a password (so that tests
can look for it where it must never appear), and is stopped and removed by
the test that made it. PostgreSQL refuses to run as root: as root the
cluster runs as the ``postgres`` user.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import psycopg

from sms_delivery_exporter.testing import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
USER = "sms_exporter"
PASSWORD = "Zq7-SECRET@/pw:x"
"""Characters a URL must percent-encode, so that both forms are looked for in the tests."""


def available() -> bool:
    return (BIN / "initdb").exists() and (BIN / "pg_ctl").exists()


class PostgresCluster:
    """One cluster: start, stop, restart, and databases made on demand."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="sms-exporter-pg-"))
        self.data = self.folder / "data"
        self.port = free_port()
        self._owner = _run_as()
        self._databases = 0

    def _command(self, *args: str | Path, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(arg) for arg in args],
            capture_output=True,
            text=True,
            check=check,
            user=self._owner,
            cwd=self.folder,
            timeout=120,
        )

    def create(self) -> None:
        if self._owner is not None:
            shutil.chown(self.folder, self._owner)
        password_file = self.folder / "password"
        password_file.write_text(PASSWORD + "\n")
        if self._owner is not None:
            shutil.chown(password_file, self._owner)
        self._command(
            BIN / "initdb",
            "--pgdata",
            self.data,
            "--username",
            USER,
            "--pwfile",
            password_file,
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "--encoding=UTF8",
            "--no-instructions",
        )
        password_file.unlink()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.folder}'",
            # Commits reach the operating system before they are acknowledged (a killed
            # server loses none); not the disk, which a test cannot pull the plug on.
            "fsync": "off",
            "full_page_writes": "off",
            "max_connections": "100",
            "logging_collector": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        self._command(
            BIN / "pg_ctl",
            "--pgdata",
            self.data,
            "--log",
            self.folder / "log",
            "--wait",
            "--timeout=60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._command(
            BIN / "pg_ctl", "--pgdata", self.data, "--mode", mode, "--wait", "stop", check=False
        )

    def url(self, database: str, password: str = PASSWORD) -> str:
        return f"postgresql://{USER}:{quote(password, safe='')}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        self._databases += 1
        name = f"test_{self._databases}"
        with psycopg.connect(self.url("postgres"), autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def remove(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.folder, ignore_errors=True)


def _run_as() -> str | None:
    if os.geteuid() != 0:
        return None
    with contextlib.suppress(KeyError):
        return pwd.getpwnam("postgres").pw_name
    raise RuntimeError("running as root, and no postgres user to run PostgreSQL as")


@contextlib.contextmanager
def cluster() -> Iterator[PostgresCluster]:
    """A started cluster, removed at the end of the block."""
    made = PostgresCluster()
    try:
        made.create()
        made.start()
        yield made
    finally:
        made.remove()

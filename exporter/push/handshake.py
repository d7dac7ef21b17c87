"""Setup calls (SFMC's callback verification): shown to the operator, their secret kept private.

The secret an operator needs to finish a setup (SFMC's verification key) is
never logged or shown: it is written to ``push-verification-<account>.json``
beside the store, readable by the exporter's user only, which the landing
page and the log line name. A later setup call replaces it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sms_delivery_exporter.api import PushHandshake

log = logging.getLogger(__name__)


class HandshakeNotKept(Exception):
    """The secret could not be written where the operator finds it."""


@dataclass(frozen=True, slots=True)
class Handshake:
    """The last setup call of an account, as the landing page shows it."""

    received_at: float
    summary: str
    reference: str | None
    file: Path | None
    """Where its secret is, if it had one."""


class Handshakes:
    """The last setup call per account."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self.latest: dict[str, Handshake] = {}

    def file_of(self, account: str) -> Path:
        return self._folder / f"push-verification-{account}.json"

    async def record(self, account: str, handshake: PushHandshake, now: float) -> None:
        """Keep the secret privately, then tell the log and the landing page it arrived."""
        file = None
        if handshake.secret is not None:
            file = self.file_of(account)
            content = {
                "account": account,
                "received_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
                "summary": handshake.summary,
                "reference": handshake.reference,
                "secret": handshake.secret,
            }
            try:
                await asyncio.to_thread(_write_private, file, json.dumps(content, indent=2) + "\n")
            except OSError as exc:
                log.error(
                    "cannot keep the secret of a webhook setup call",
                    extra={"account": account, "file": str(file), "error": exc.strerror},
                )
                # The answer goes to an unauthenticated caller: no path, no OS error (logged).
                raise HandshakeNotKept("cannot keep the setup call's secret on disk") from None
        self.latest[account] = Handshake(now, handshake.summary, handshake.reference, file)
        log.info(
            "webhook setup call received",
            extra={
                "account": account,
                "summary": handshake.summary,
                **({"secret_in": str(file)} if file is not None else {}),
            },
        )


def _write_private(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``, readable and writable by this user only.

    Each write has a temporary file of its own (mkstemp: mode 0600, a unique name):
    setup calls are unsigned, so several may come at once, and one shared temporary
    name let them truncate or move away each other's file (a 503, or a key file that
    was not JSON). The last replace wins, whole."""
    descriptor, name = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".", suffix=".tmp")
    temporary = Path(name)
    try:
        try:
            os.write(descriptor, text.encode())
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        temporary.replace(path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise

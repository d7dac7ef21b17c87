"""``--log.level`` and ``--log.format`` (logfmt or json), as Prometheus exporters log.

Fields passed as ``extra=`` become key=value pairs. Callers never pass ids,
phone numbers or secrets; URLs are not logged at all. Every line goes through
:class:`RateLimit`: whatever clients or providers do, one kind of line (a
logger and a message) is written at most :data:`LINES_PER_WINDOW` times per
:data:`WINDOW` seconds, and the next one written says how many were dropped.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["logfmt", "json"]
LEVELS = ("debug", "info", "warn", "error")
LINES_PER_WINDOW = 20
WINDOW = 60.0
MAX_KINDS = 10_000
"""Kinds of line remembered at once (messages are fixed texts: this is never reached)."""
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": "warn" if record.levelname == "WARNING" else record.levelname.lower(),
        "logger": record.name,
        "msg": record.getMessage(),
    }
    fields.update({key: value for key, value in record.__dict__.items() if key not in _STANDARD})
    if record.exc_info and record.exc_info[0] is not None:
        fields["exception"] = logging.Formatter().formatException(record.exc_info)
    return fields


class LogfmtFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_logfmt_value(value)}" for key, value in _fields(record).items())


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(_fields(record), default=str)


def _logfmt_value(value: Any) -> str:
    text = str(value)
    if text and not any(c in text for c in ' ="\n\t'):
        return text
    return json.dumps(text)


class RateLimit(logging.Filter):
    """At most ``lines`` lines of one kind per ``window`` seconds; then how many were dropped."""

    def __init__(
        self,
        lines: int = LINES_PER_WINDOW,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._lines = lines
        self._window = window
        self._clock = clock
        self._kinds: dict[tuple[str, int, str], tuple[float, int, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        kind = (record.name, record.levelno, str(record.msg))
        now = self._clock()
        started, written, dropped = self._kinds.get(kind, (now, 0, 0))
        if now - started >= self._window:
            if dropped:
                record.dropped_before = dropped
            started, written, dropped = now, 0, 0
        if written >= self._lines:
            self._kinds[kind] = (started, written, dropped + 1)
            return False
        if len(self._kinds) >= MAX_KINDS and kind not in self._kinds:
            self._kinds.clear()
        self._kinds[kind] = (started, written + 1, dropped)
        return True


def setup_logging(level: str = "info", log_format: LogFormat = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    handler.addFilter(RateLimit())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("WARNING" if level == "warn" else level.upper())
    # aiohttp's own access and server loggers are not used: the exporter's handler
    # logs through sms_delivery_exporter.web.* (sms_delivery_exporter.web.handler).
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

"""``--log.level`` and ``--log.format`` (logfmt or json), as Prometheus exporters log.

Fields passed as ``extra=`` become key=value pairs. Callers never pass ids,
phone numbers or secrets; URLs are not logged at all.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["logfmt", "json"]
LEVELS = ("debug", "info", "warn", "error")
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


def setup_logging(level: str = "info", log_format: LogFormat = "logfmt") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else LogfmtFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel("WARNING" if level == "warn" else level.upper())
    # aiohttp's access log would record every intake and scrape request.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)

"""``store.url``: a PostgreSQL URL, checked without ever quoting it (it holds a password).

libpq reads the URL itself (every parameter it knows works: ``sslmode``,
``connect_timeout``, ``application_name``...); this module only refuses what
cannot be a PostgreSQL URL, names the database without its password for
messages, and blanks the password out of any text that might echo it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

SCHEMES = ("postgresql", "postgres")
_USERINFO_PASSWORD = re.compile(r"(postgres(?:ql)?://[^:/@\s]*:)[^@\s]*@", re.IGNORECASE)
_KEYWORD_PASSWORD = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class DatabaseUrl:
    """A checked PostgreSQL URL: the text libpq reads, and what may be shown of it."""

    text: str
    display: str
    """``postgresql://user@host:port/dbname``: no password, no parameters."""
    password: str | None

    def redact(self, message: str) -> str:
        """``message`` with the password blanked out, whatever form it is quoted in."""
        return redact(message, self.password)


def parse_database_url(text: str) -> DatabaseUrl:
    """Check a URL; ValueError says what is wrong without quoting any of it."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError:
        raise ValueError("not a URL (postgresql://user:password@host:5432/database)") from None
    if parts.scheme.lower() not in SCHEMES:
        raise ValueError("must start with postgresql:// (postgresql://user:password@host/db)")
    if not parts.hostname and "host=" not in parts.query:
        raise ValueError("names no host (postgresql://user:password@host:5432/database)")
    database = unquote(parts.path.lstrip("/"))
    if not database:
        raise ValueError("names no database (postgresql://user:password@host:5432/database)")
    user = f"{unquote(parts.username)}@" if parts.username else ""
    host = parts.hostname or "(host in parameters)"
    display = f"postgresql://{user}{host}{f':{port}' if port else ''}/{database}"
    password = unquote(parts.password) if parts.password else None
    return DatabaseUrl(text.strip(), display, password)


def redact(message: str, password: str | None) -> str:
    """Blank out a password, and anything shaped like one in a URL or a conninfo string."""
    if password:
        for form in {password, quote(password, safe="")}:
            message = message.replace(form, "***")
    message = _USERINFO_PASSWORD.sub(r"\1***@", message)
    return _KEYWORD_PASSWORD.sub(r"\1***", message)

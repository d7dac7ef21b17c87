"""Reading webhook calls safely: credentials in constant time, bodies within bounds.

A webhook endpoint faces the open network: whatever bytes arrive, these
helpers answer with :class:`PushMalformed` naming the problem (never quoting
the body, which holds phone numbers) or a plain ``False``, never another error.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import SecretStr

MAX_FORM_FIELDS = 100


class PushMalformed(Exception):
    """The body cannot be read: 400 with this message, nothing applied (never quote numbers)."""


def token_matches(given: str | None, expected: SecretStr) -> bool:
    """Is ``given`` the token? Compared in constant time, whatever characters it holds."""
    wanted = expected.get_secret_value().encode()
    offered = (given or "").encode("utf-8", "surrogateescape")
    return hmac.compare_digest(offered, wanted) and given is not None


def hmac_matches(key: SecretStr, body: bytes, signature: str | None) -> bool:
    """Is ``signature`` base64(HMAC-SHA256(key as UTF-8, body))? In constant time."""
    if not signature:
        return False
    try:
        given = base64.b64decode(signature.strip().encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return False
    expected = hmac.new(key.get_secret_value().encode(), body, hashlib.sha256).digest()
    return hmac.compare_digest(given, expected)


def push_json(body: bytes) -> Any:
    """A JSON body (RFC 8259: no NaN or Infinity, no number beyond a double's range, no lone
    surrogate), nested at most 1,024 levels; :class:`PushMalformed` otherwise."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PushMalformed(f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise PushMalformed("the body is empty")
    # orjson, not json: a webhook body is read on the event loop for every call, in a
    # quarter of json's time (bench/README.md, section 9); and it is strict where json is
    # lenient (NaN, 1e999, lone surrogates). The body's size is bounded by the endpoint.
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # Its message names the problem, a line and a column, never the text itself.
        problem = str(exc).split(":")[0]
        if problem.startswith("depth limit"):
            raise PushMalformed("the body is nested too deep") from None
        raise PushMalformed(f"the body is not valid JSON ({problem})") from None


def push_form(body: bytes, content_type: str = "") -> dict[str, str]:
    """A form body, URL-encoded or ``multipart/form-data`` (``content_type``: the whole
    ``Content-Type`` header, with its boundary); the first value of each field."""
    if content_type.lower().startswith("multipart/"):
        return _multipart(body, content_type)
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError:
        raise PushMalformed("the form body is not URL-encoded ASCII") from None
    try:
        pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise PushMalformed(
            f"the form body is not URL-encoded fields (at most {MAX_FORM_FIELDS})"
        ) from None
    form: dict[str, str] = {}
    for name, value in pairs:
        form.setdefault(name, value)
    return form


def _multipart(body: bytes, content_type: str) -> dict[str, str]:
    try:
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
        )
    except (UnicodeEncodeError, ValueError, TypeError):
        raise PushMalformed("the multipart form body cannot be read") from None
    if not message.is_multipart():
        raise PushMalformed("the multipart form body has no boundary or no parts")
    form: dict[str, str] = {}
    for number, part in enumerate(message.iter_parts()):
        if number >= MAX_FORM_FIELDS:
            raise PushMalformed(f"the form body has more than {MAX_FORM_FIELDS} fields")
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            form.setdefault(name, payload.decode("utf-8", "replace"))
    return form

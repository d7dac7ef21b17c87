"""Reading an intake body into validated items, or a list of what is wrong.

Shared by ``POST /api/v1/messages`` and ``sms-delivery-exporter track``. A
body with any bad item is refused whole: each problem is reported as
``{index, field, error}`` so a sender can fix its batch and send it again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from sms_delivery_exporter.config import Account, LabelsConfig

RESERVED_FIELDS = ("account", "submitted_at", "labels")
MAX_LABEL_VALUE_LENGTH = 128
FUTURE_TOLERANCE = 300.0
"""How far ahead of our clock a ``submitted_at`` may be (clock skew), in seconds."""


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    field: str
    error: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.error}


class BodyError(Exception):
    """The body as a whole cannot be read."""


@dataclass(frozen=True, slots=True)
class IntakeItem:
    """One valid item: the ref in canonical form, ready for the store."""

    account: str
    ref_key: str
    labels: dict[str, str]
    submitted_at: float


def parse_body(body: bytes, content_type: str) -> list[Any]:
    """The items of a JSON object, a JSON array, or NDJSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BodyError(f"the body is not UTF-8 (byte {exc.start})") from None
    if not text.strip():
        raise BodyError("the body is empty; send a JSON object, a JSON array or NDJSON")
    if content_type in ("application/x-ndjson", "application/jsonl", "application/json-seq"):
        return _parse_ndjson(text)
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise BodyError(f"the body is not valid JSON: {exc}") from None
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        if not value:
            raise BodyError("the body is an empty array")
        return value
    raise BodyError("the body must be a JSON object or an array of objects")


def _parse_ndjson(text: str) -> list[Any]:
    items: list[Any] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except ValueError as exc:
            raise BodyError(f"NDJSON line {number} is not valid JSON: {exc}") from None
    return items


class ItemValidator:
    """Checks items against the configured accounts, their providers' Ref models and labels."""

    def __init__(self, accounts: Mapping[str, Account], labels: LabelsConfig) -> None:
        self._accounts = accounts
        self._label_keys = frozenset(labels.keys)
        self._known = ", ".join(sorted(accounts)) or "(none)"

    def validate(
        self, raw_items: list[Any], now: float
    ) -> tuple[list[IntakeItem], list[ItemError]]:
        items: list[IntakeItem] = []
        errors: list[ItemError] = []
        for index, raw in enumerate(raw_items):
            item = self._item(index, raw, now, errors)
            if item is not None:
                items.append(item)
        return items, errors

    def account_of(self, raw: Any) -> str | None:
        """The item's account if it names a configured one (for counting refused items)."""
        if isinstance(raw, dict) and raw.get("account") in self._accounts:
            return str(raw["account"])
        return None

    def _item(self, index: int, raw: Any, now: float, errors: list[ItemError]) -> IntakeItem | None:
        if not isinstance(raw, dict):
            errors.append(ItemError(index, "", "each item must be a JSON object"))
            return None
        before = len(errors)
        account_name = raw.get("account")
        account = self._accounts.get(account_name) if isinstance(account_name, str) else None
        if account_name is None:
            errors.append(ItemError(index, "account", "field required"))
        elif account is None:
            errors.append(
                ItemError(index, "account", f"unknown account; configured accounts: {self._known}")
            )
        submitted_at = self._submitted_at(index, raw.get("submitted_at"), now, errors)
        labels = self._labels(index, raw.get("labels"), errors)
        ref_key = None
        if account is not None:
            ref_key = self._ref_key(index, account, raw, errors)
        if len(errors) > before or account is None or ref_key is None:
            return None
        return IntakeItem(account.name, ref_key, labels, submitted_at)

    def _ref_key(
        self, index: int, account: Account, raw: dict[str, Any], errors: list[ItemError]
    ) -> str | None:
        fields = {key: value for key, value in raw.items() if key not in RESERVED_FIELDS}
        try:
            ref = account.provider.Ref.model_validate(fields)
        except ValidationError as exc:
            for problem in exc.errors(
                include_url=False, include_input=False, include_context=False
            ):
                field = ".".join(str(part) for part in problem["loc"])
                message = problem["msg"]
                if problem["type"] == "extra_forbidden":
                    message = (
                        f"unknown field for provider {account.provider.name!r}"
                        f" (it takes: {', '.join(account.provider.Ref.model_fields)})"
                    )
                errors.append(ItemError(index, field, message))
            return None
        return json.dumps(ref.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @staticmethod
    def _submitted_at(index: int, value: Any, now: float, errors: list[ItemError]) -> float:
        if value is None:
            return now
        if not isinstance(value, str):
            errors.append(ItemError(index, "submitted_at", "must be an RFC 3339 string"))
            return now
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            errors.append(
                ItemError(
                    index, "submitted_at", "not an RFC 3339 time such as 2026-01-02T15:04:05Z"
                )
            )
            return now
        if parsed.tzinfo is None:
            errors.append(ItemError(index, "submitted_at", "needs a time zone (Z or +hh:mm)"))
            return now
        seconds = parsed.timestamp()
        if seconds > now + FUTURE_TOLERANCE:
            errors.append(ItemError(index, "submitted_at", "is in the future"))
        return seconds

    def _labels(self, index: int, value: Any, errors: list[ItemError]) -> dict[str, str]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            errors.append(ItemError(index, "labels", "must be an object of label names to strings"))
            return {}
        labels: dict[str, str] = {}
        for key, label_value in value.items():
            where = f"labels.{key}"
            if key not in self._label_keys:
                configured = ", ".join(sorted(self._label_keys)) or "none are configured"
                errors.append(ItemError(index, where, f"not a configured label key ({configured})"))
            elif not isinstance(label_value, str):
                errors.append(ItemError(index, where, "must be a string"))
            elif len(label_value) > MAX_LABEL_VALUE_LENGTH:
                errors.append(
                    ItemError(index, where, f"longer than {MAX_LABEL_VALUE_LENGTH} characters")
                )
            else:
                labels[key] = label_value
        return labels


def sampled_in(account: str, ref_key: str, rate: float) -> bool:
    """Deterministic: the same ref is always in or always out at a given rate."""
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(f"{account}\0{ref_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate

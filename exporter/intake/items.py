"""Checking raw intake items against the configured accounts, their Ref models and labels.

A body with any bad item is refused whole: each problem is reported as
``{index, field, error}`` so a sender can fix its batch and send it again.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from sms_delivery_exporter.api import RefModel, format_duration, iso8601_seconds
from sms_delivery_exporter.config import Account, LabelsConfig, validation_problems
from sms_delivery_exporter.intake.label_values import LabelValueRules

RESERVED_FIELDS = ("account", "submitted_at", "labels")
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))
"""Made once: json.dumps with options makes an encoder per call (once per ref here)."""
FUTURE_TOLERANCE = 300.0
"""How far ahead of our clock a ``submitted_at`` may be (clock skew), in seconds."""


@dataclass(frozen=True, slots=True)
class ItemError:
    index: int
    field: str
    error: str

    def as_json(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "error": self.error}


@dataclass(frozen=True, slots=True)
class IntakeItem:
    """One valid item: the ref in canonical form, ready for the store."""

    account: str
    ref_key: str
    labels: dict[str, str]
    submitted_at: float


def ref_key(ref: RefModel) -> str:
    """The canonical text of a ref, by which the store knows it (whoever tells of it)."""
    return _CANONICAL.encode(ref.model_dump(mode="json"))


class ItemValidator:
    """Checks items against the configured accounts, their providers' Ref models and labels."""

    def __init__(self, accounts: Mapping[str, Account], labels: LabelsConfig) -> None:
        self._accounts = accounts
        self._label_keys = frozenset(labels.keys)
        self._label_rules = LabelValueRules(labels)
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
        account = raw.get("account") if isinstance(raw, dict) else None
        return account if isinstance(account, str) and account in self._accounts else None

    def _item(self, index: int, raw: Any, now: float, errors: list[ItemError]) -> IntakeItem | None:
        if not isinstance(raw, dict):
            errors.append(ItemError(index, "", "each item must be a JSON object"))
            return None
        before = len(errors)
        account_name = raw.get("account")
        account = self._accounts.get(account_name) if isinstance(account_name, str) else None
        if account_name is None:
            errors.append(ItemError(index, "account", "field required"))
        elif not isinstance(account_name, str):
            errors.append(ItemError(index, "account", "must be a string naming an account"))
        elif account is None:
            errors.append(
                ItemError(index, "account", f"unknown account; configured accounts: {self._known}")
            )
        window = account.settings.schedule.tracking_window if account is not None else None
        submitted_at = self._submitted_at(index, raw.get("submitted_at"), now, window, errors)
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
            unknown = (
                f"unknown field for provider {account.provider.name!r}"
                f" (it takes: {', '.join(account.provider.Ref.model_fields)})"
            )
            errors.extend(
                ItemError(index, field, message)
                for field, message in validation_problems(exc, unknown_field=unknown)
            )
            return None
        return ref_key(ref)

    @staticmethod
    def _submitted_at(
        index: int, value: Any, now: float, window: float | None, errors: list[ItemError]
    ) -> float:
        if value is None:
            return now
        if not isinstance(value, str):
            errors.append(ItemError(index, "submitted_at", "must be an RFC 3339 string"))
            return now
        try:
            seconds = iso8601_seconds(value)
        except (ValueError, OverflowError) as exc:
            # Year 1 with a positive offset overflows datetime: still the sender's mistake.
            message = str(exc) if isinstance(exc, ValueError) else "is out of range"
            errors.append(ItemError(index, "submitted_at", message))
            return now
        if seconds > now + FUTURE_TOLERANCE:
            errors.append(ItemError(index, "submitted_at", "is in the future"))
        elif window is not None and seconds < now - window:
            # It would expire at once, and skew the oldest-in-flight gauge by decades.
            errors.append(
                ItemError(
                    index,
                    "submitted_at",
                    "is older than the account's tracking window"
                    f" ({format_duration(window)}): too old to track",
                )
            )
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
            elif (problem := self._label_rules.problem(key, label_value)) is not None:
                errors.append(ItemError(index, where, problem))
            else:
                labels[key] = label_value
        return labels

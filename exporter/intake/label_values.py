"""What an application label value may be: short, visible, never a phone number.

Every value becomes part of a series name on ``/metrics``, kept for good in
the store: a phone number there is personal data leaked to every scraper,
and a control or invisible character (NUL, an escape sequence, a
right-to-left override) garbles dashboards and terminals. So, whatever the
configured pattern:

- at most :data:`MAX_LENGTH` characters;
- no control, format, surrogate, private-use, unassigned or line/paragraph
  separator character (Unicode categories C*, Zl, Zp);
- nothing that looks like a phone number: seven or more digits in a row, each
  pair separated by at most one space, ``.``, ``-``, ``/`` or parenthesis,
  with or without a leading ``+`` (this also refuses dates written in digits);
- and the key's pattern (``intake.labels.patterns``), matched whole; by
  default letters, digits, ``_``, ``.``, ``:`` and ``-``, 64 at most.
"""

from __future__ import annotations

import re
import unicodedata

from sms_delivery_exporter.config import LabelsConfig

MAX_LENGTH = 128
PHONE_LIKE = re.compile(r"\+?\d(?:[ .()/-]?\d){6,}")
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


class LabelValueRules:
    """Checks application label values against the rules above and the configured patterns."""

    def __init__(self, config: LabelsConfig) -> None:
        self._patterns = {key: re.compile(config.pattern(key)) for key in config.keys}
        self._sources = {key: config.pattern(key) for key in config.keys}

    def problem(self, key: str, value: str) -> str | None:
        """Why ``value`` cannot be a value of label ``key``, or None when it can."""
        if len(value) > MAX_LENGTH:
            return f"longer than {MAX_LENGTH} characters"
        for character in value:
            if unicodedata.category(character) in _UNSAFE_CATEGORIES:
                return (
                    f"contains the control or invisible character U+{ord(character):04X};"
                    " label values must be visible text"
                )
        if PHONE_LIKE.search(value):
            return "looks like a phone number: label values must never carry phone numbers"
        if value and not self._patterns[key].fullmatch(value):
            return (
                f"does not match the pattern {self._sources[key]} of this key"
                f" (intake.labels.patterns.{key})"
            )
        return None

"""Config errors, and pydantic's errors as ``key.path: message`` without the input."""

from __future__ import annotations

from pydantic import ValidationError


class ConfigError(Exception):
    """The config is unusable; ``problems`` holds one ``key.path: what is wrong`` per mistake."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def validation_problems(
    exc: ValidationError,
    *,
    prefix: tuple[str, ...] = (),
    unknown_field: str = "unknown option (check its spelling and indentation)",
) -> list[tuple[str, str]]:
    """``(key.path, message)`` per problem, never echoing the input (it may be a secret).

    Shared by the config and the intake, which words an unknown field its own way.
    """
    problems = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        path = ".".join(str(part) for part in (*prefix, *error["loc"]))
        message = unknown_field if error["type"] == "extra_forbidden" else error["msg"]
        problems.append((path, message))
    return problems


def format_validation_error(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[str]:
    """``key.path: message`` lines for a config error."""
    return [
        f"{path}: {message}" if path else message
        for path, message in validation_problems(exc, prefix=prefix)
    ]

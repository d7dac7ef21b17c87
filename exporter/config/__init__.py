"""The config: its models, and reading them from YAML with every error named by its key path.

Owns the meaning of every config key outside an account's provider block.
Imports only :mod:`sms_delivery_exporter.api` (provider settings are its models).
"""

from __future__ import annotations

from sms_delivery_exporter.config.database_url import DatabaseUrl, redact
from sms_delivery_exporter.config.errors import (
    ConfigError,
    format_validation_error,
    validation_problems,
)
from sms_delivery_exporter.config.loading import known_providers, load_config, parse_config
from sms_delivery_exporter.config.model import (
    Account,
    Config,
    IntakeConfig,
    LabelsConfig,
    StoreConfig,
)

__all__ = [
    "Account",
    "Config",
    "ConfigError",
    "DatabaseUrl",
    "IntakeConfig",
    "LabelsConfig",
    "StoreConfig",
    "format_validation_error",
    "known_providers",
    "load_config",
    "parse_config",
    "redact",
    "validation_problems",
]

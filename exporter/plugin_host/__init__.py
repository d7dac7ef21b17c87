"""The plugin host: finds provider plugins through entry points and collects their providers.

Owns plugin loading and isolation (a broken plugin is logged with its
distribution's name and skipped). Imports only :mod:`sms_delivery_exporter.api`.
"""

from __future__ import annotations

from sms_delivery_exporter.plugin_host.manager import (
    PluginError,
    PluginManager,
    collect_providers,
    make_plugin_manager,
)

__all__ = ["PluginError", "PluginManager", "collect_providers", "make_plugin_manager"]

"""Building the plugin manager and collecting the providers it supplies."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable, Mapping

import pluggy

from sms_delivery_exporter import hookspecs
from sms_delivery_exporter.provider import Provider, ProviderClass

log = logging.getLogger(__name__)


class PluginError(Exception):
    """Providers cannot be assembled: duplicate names or malformed classes."""


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh plugin manager with our hookspecs, plugins loaded from entry points.

    A plugin that fails to import is logged and skipped: one broken third-party
    package must not take every provider down.
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    if load_entry_points:
        for entry_point in importlib.metadata.entry_points(group=hookspecs.PROJECT_NAME):
            if manager.has_plugin(entry_point.name):
                continue
            try:
                plugin = entry_point.load()
            except Exception as exc:
                log.warning(
                    "skipping plugin that failed to load",
                    extra={"plugin": entry_point.name, "error": f"{type(exc).__name__}: {exc}"},
                )
                continue
            manager.register(plugin, name=entry_point.name)
    return manager


def collect_providers(manager: pluggy.PluginManager) -> dict[str, ProviderClass]:
    """Every provider class the registered plugins supply, by name.

    Two classes claiming one name are refused with a message naming both.
    """
    providers: dict[str, ProviderClass] = {}
    for returned in manager.hook.register_providers():
        for provider in _as_classes(returned):
            name = getattr(provider, "name", None)
            if not isinstance(name, str) or not name:
                raise PluginError(f"provider class {provider.__qualname__} has no name")
            if name in providers:
                first = providers[name]
                raise PluginError(
                    f"provider name {name!r} is registered twice: by "
                    f"{first.__module__}.{first.__qualname__} and "
                    f"{provider.__module__}.{provider.__qualname__}"
                )
            providers[name] = provider
    return providers


def _as_classes(returned: Iterable[object] | None) -> list[ProviderClass]:
    classes: list[ProviderClass] = []
    for item in returned or ():
        if not (isinstance(item, type) and issubclass(item, Provider)):
            raise PluginError(
                f"register_providers returned {item!r}, which is not a Provider class"
            )
        classes.append(item)
    return classes


def describe(providers: Mapping[str, ProviderClass]) -> str:
    """``d7, namirial``: the known names, for error messages."""
    return ", ".join(sorted(providers)) or "(none)"

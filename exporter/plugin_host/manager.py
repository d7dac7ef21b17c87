"""Building the plugin manager and collecting the providers it supplies, one plugin at a time.

Each plugin is isolated as conda isolates its plugins: an entry point that
fails to import, a hookimpl whose signature does not match the spec, a hook
that raises or returns something that is not a provider class: each is
logged with the plugin's and its distribution's name and skipped, and the
other plugins load. Only a conflict between two plugins (one provider name
claimed twice) stops the exporter, since no choice between them is safe.
"""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Iterable

import pluggy

from sms_delivery_exporter.api import (
    PROJECT_NAME,
    Provider,
    ProviderClass,
    ProviderSettings,
    RefModel,
)
from sms_delivery_exporter.api import hooks as hookspecs

log = logging.getLogger(__name__)


class PluginError(Exception):
    """Providers cannot be assembled: two plugins claim one provider name."""


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering which distribution each plugin came from."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.distributions: dict[str, str] = {}
        """Plugin name -> the distribution that declared it (for messages)."""

    def fields(self, plugin_name: str) -> dict[str, str]:
        """The plugin and its distribution, as log fields."""
        return {"plugin": plugin_name, "distribution": self.distributions.get(plugin_name, "")}

    def describe(self, plugin_name: str) -> str:
        """``'acme' (distribution acme-sms)`` for log lines."""
        dist = self.distributions.get(plugin_name)
        return f"{plugin_name!r} (distribution {dist})" if dist else repr(plugin_name)

    def add_plugin(self, plugin: object, name: str, distribution: str | None = None) -> bool:
        """Register a plugin; one whose hookimpls do not match the specs is logged and skipped."""
        if distribution is not None:
            self.distributions[name] = distribution
        try:
            self.register(plugin, name=name)
        except (pluggy.PluginValidationError, ValueError) as exc:
            _skip(self, name, "does not match the plugin API", exc)
            return False
        return True


def make_plugin_manager(*, load_entry_points: bool = True) -> PluginManager:
    """A fresh plugin manager with our hookspecs, plugins loaded from entry points.

    Made by a function and passed in, never an import-time global.
    """
    manager = PluginManager()
    if load_entry_points:
        for entry_point in importlib.metadata.entry_points(group=PROJECT_NAME):
            if manager.has_plugin(entry_point.name):
                continue
            dist = entry_point.dist.name if entry_point.dist is not None else None
            if dist is not None:
                manager.distributions[entry_point.name] = dist
            try:
                plugin = entry_point.load()
            except Exception as exc:
                _skip(manager, entry_point.name, "failed to load", exc)
                continue
            manager.add_plugin(plugin, entry_point.name, dist)
    warn_unknown_hooks(manager)
    return manager


def warn_unknown_hooks(manager: PluginManager) -> None:
    """pluggy's ``check_pending``, as warnings: a misspelt hook is never silently ignored."""
    try:
        manager.check_pending()
    except pluggy.PluginValidationError:
        # check_pending stops at the first; name every one of them.
        for plugin in manager.get_plugins():
            name = manager.get_name(plugin) or repr(plugin)
            for caller in manager.get_hookcallers(plugin) or ():
                if not caller.has_spec():
                    log.warning(
                        "plugin implements a hook the exporter does not have (misspelt?);"
                        " it is never called",
                        extra={**manager.fields(name), "hook": caller.name},
                    )


def collect_providers(manager: PluginManager) -> dict[str, ProviderClass]:
    """Every provider class the registered plugins supply, by name.

    Each plugin's hook is called on its own, so that one that raises or
    returns junk is skipped without taking the others down. Two plugins
    claiming one name are refused with a message naming both.
    """
    providers: dict[str, ProviderClass] = {}
    for impl in manager.hook.register_providers.get_hookimpls():
        try:
            returned = impl.function()
            classes = _as_classes(returned)
        except Exception as exc:
            _skip(manager, impl.plugin_name, "failed to register its providers", exc)
            continue
        for provider in classes:
            if provider.name in providers:
                first = providers[provider.name]
                raise PluginError(
                    f"provider name {provider.name!r} is registered twice: by "
                    f"{first.__module__}.{first.__qualname__} and "
                    f"{provider.__module__}.{provider.__qualname__}"
                    f" (plugin {manager.describe(impl.plugin_name)}); uninstall one of them"
                )
            providers[provider.name] = provider
    return providers


def _as_classes(returned: object) -> list[ProviderClass]:
    if returned is None:
        return []
    if not isinstance(returned, Iterable) or isinstance(returned, str | bytes):
        raise TypeError(f"register_providers returned {returned!r}, not a list of Provider classes")
    classes: list[ProviderClass] = []
    for item in returned:
        if not (isinstance(item, type) and issubclass(item, Provider)):
            raise TypeError(f"register_providers returned {item!r}, which is not a Provider class")
        problem = _malformed(item)
        if problem is not None:
            raise TypeError(f"provider class {item.__qualname__} {problem}")
        classes.append(item)
    return classes


def _malformed(provider: ProviderClass) -> str | None:
    """What is missing from a provider class, checked before any account uses it."""
    name = getattr(provider, "name", None)
    if not isinstance(name, str) or not name:
        return "has no name"
    for attribute, base in (("Settings", ProviderSettings), ("Ref", RefModel)):
        model = getattr(provider, attribute, None)
        if not (isinstance(model, type) and issubclass(model, base)):
            return f"has no {attribute} model (a subclass of {base.__name__})"
    reasons = getattr(provider, "reasons", None)
    if not isinstance(reasons, frozenset) or not all(isinstance(r, str) for r in reasons):
        return "has no reasons (a frozenset of strings)"
    return None


def _skip(manager: PluginManager, name: str, what: str, exc: BaseException) -> None:
    log.warning(
        f"skipping plugin that {what}",
        extra={**manager.fields(name), "error": f"{type(exc).__name__}: {exc}"},
    )

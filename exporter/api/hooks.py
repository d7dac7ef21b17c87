"""The hook a provider plugin implements, and the marker it implements it with.

A plugin is a module declared in its distribution's metadata::

    [project.entry-points.sms_delivery_exporter]
    acme = "acme_sms_exporter"

whose module defines::

    from sms_delivery_exporter.api import hookimpl

    @hookimpl
    def register_providers():
        return [AcmeProvider]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from collections.abc import Sequence

    from sms_delivery_exporter.api.provider import ProviderClass

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec", "register_providers"]

PROJECT_NAME = "sms_delivery_exporter"
"""The pluggy project name, also the entry-point group."""

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_providers() -> Sequence[ProviderClass]:  # type: ignore[empty-body]
    """Return the Provider classes this plugin supplies.

    Example::

        @hookimpl
        def register_providers():
            return [NamirialProvider]
    """

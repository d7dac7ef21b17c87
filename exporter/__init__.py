"""sms-delivery-exporter: tells SREs whether their SMS and RCS messages are delivered.

The host package. Providers live in plugins registered through the pluggy
entry-point group ``sms_delivery_exporter``; see :mod:`exporter.hookspecs` for
how to write one.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("sms-delivery-exporter")
except PackageNotFoundError:  # pragma: no cover - running from a bare source tree
    __version__ = "0.0.0"

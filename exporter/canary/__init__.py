"""The synthetic canary: one real message now and then, followed to delivery.

Imports the metrics' canary stats and the API; the app wires one
:class:`AccountCanary` per account whose ``canary:`` block is enabled.
"""

from __future__ import annotations

from sms_delivery_exporter.canary.runner import AccountCanary

__all__ = ["AccountCanary"]

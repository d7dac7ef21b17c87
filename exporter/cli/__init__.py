"""The command line: run the exporter, check a config, register refs, run the demo.

The top of the host: it may import every other package (the demo also the
simulator kit, :mod:`sms_delivery_exporter.testing`).
"""

from __future__ import annotations

from sms_delivery_exporter.cli.main import main

__all__ = ["main"]

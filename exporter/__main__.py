"""``python -m exporter`` runs the same CLI as ``sms-delivery-exporter``."""

from __future__ import annotations

from exporter.cli import main

raise SystemExit(main())

"""``python -m sms_delivery_exporter`` runs the same CLI as ``sms-delivery-exporter``."""

from __future__ import annotations

from sms_delivery_exporter.cli import main

raise SystemExit(main())

"""The HTTP paths the exporter serves, for its handlers and its clients (``track``, the demo)."""

from __future__ import annotations

INTAKE_PATH = "/api/v1/messages"
METRICS_PATH = "/metrics"
HEALTHY_PATH = "/-/healthy"
READY_PATH = "/-/ready"
PUSH_PREFIX = "/api/v1/push/"
"""``POST /api/v1/push/{account}``: webhooks of accounts with push on."""

"""An alerting rule as this project writes them: static summary, templated description, links."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from monitoring.settings import Settings

OVERVIEW = "sms-delivery-overview"
HEALTH = "sms-delivery-exporter-health"

PAGE = "critical"
"""Severity label of the alerts that page; Alertmanager routes them to the pager."""
TICKET = "warning"
"""Severity label of the alerts that open a ticket."""


@dataclass(frozen=True)
class Alert:
    name: str
    expr: str
    for_seconds: int
    severity: str
    summary: str
    """Static: the same text for every account, so notifications group and read alike."""
    description: str
    """Templated with the alert's labels and value."""
    dashboard: str
    """uid of the dashboard that shows the evidence."""
    labels: dict[str, str] = field(default_factory=dict)
    per_account: bool = True
    """False for alerts about the exporter process itself (no provider or account label)."""

    def rule(self, settings: Settings) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr}
        if self.for_seconds:
            rule["for"] = settings.window(self.for_seconds)
        rule["labels"] = {"severity": self.severity, **self.labels}
        rule["annotations"] = {
            "summary": self.summary,
            "description": self.description,
            "dashboard": dashboard_link(settings, self.dashboard, per_account=self.per_account),
            "runbook_url": f"{settings.runbook_url}#{self.name.lower()}",
        }
        return rule


def dashboard_link(settings: Settings, uid: str, *, per_account: bool) -> str:
    """The dashboard narrowed to the alert's job, instance when it has one, provider and account."""
    link = f"{settings.grafana_url.rstrip('/')}/d/{uid}/{uid}"
    link += "?var-job={{ $labels.job | urlquery }}"
    link += "{{ with $labels.instance }}&var-instance={{ . | urlquery }}{{ end }}"
    if per_account:
        link += "&var-provider={{ $labels.provider | urlquery }}"
        link += "&var-account={{ $labels.account | urlquery }}"
    return link

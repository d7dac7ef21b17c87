"""One builder for the Prometheus rules and the Grafana dashboards of sms-delivery-exporter.

``python -m monitoring`` (``make monitoring``) writes prometheus/rules/ and
grafana/dashboards/; a test fails while the committed files differ from what it
builds. Every choice a site makes (job selector, Grafana and runbook URLs, the
default delivery objective, a time scale for tests) is a field of
:class:`monitoring.settings.Settings`.
"""

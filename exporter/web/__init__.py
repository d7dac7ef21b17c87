"""The web layer: landing page, ``/metrics``, probes, the intake and webhook endpoints.

Owns HTTP: routes, status codes, error bodies, content negotiation. Handlers
reach the running exporter only through the app keys of :mod:`.keys`, which
the composition root (:mod:`sms_delivery_exporter.app`) fills. Imports the
intake, webhooks (:mod:`sms_delivery_exporter.push`), the metrics' exposition,
the store interface and the config; never polling internals. This ``__init__``
imports nothing, so that clients such as ``track`` can read :mod:`.paths` alone.
"""

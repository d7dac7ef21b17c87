"""The intake: the one way refs enter the store, from ``POST /api/v1/messages`` or ``track``.

Owns body parsing (:mod:`.body`), item validation (:mod:`.items`), sampling,
the label budget, and the registration of refs with their counters
(:mod:`.registrar`). Imports the store, the outcome series, the metrics'
counters, the config and the API; never polling or the web layer. This
``__init__`` imports nothing, so that ``track`` loads only the body parser.
"""

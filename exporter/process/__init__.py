"""Settings of the exporter's own process: logging, the event loop, garbage collection.

Applied by the CLI only (a library user may not want them). Imports nothing
of the host.
"""

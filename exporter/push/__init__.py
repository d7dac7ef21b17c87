"""Webhooks (push): each account's endpoint, the events kept before the answer, applied after.

Owns receiving a call through the account's push receiver (the plugin
verifies and reads it), keeping its events in the store before the 2xx
(:mod:`.inbox`), applying them to their refs with the tracker's rules while
the poller keeps off those refs (:mod:`.applier`), setup calls
(:mod:`.handshake`) and forgetting old events (:mod:`.pruner`).

Sits above both the intake and polling, and imports from both (the canonical
ref key and sampling of the one, the tracker and reservations of the other),
so that neither imports the other; also the metrics' webhook counts, the
outcome series, the store, the config and the API. Never the web layer.
"""

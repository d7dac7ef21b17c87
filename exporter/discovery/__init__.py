"""Discovery: tracking messages nobody registered, found through providers' list feeds.

Walks each account's feeds (:mod:`.walk`) and inserts what is new as refs
with their first observation (:mod:`.runner`). Imports the polling layer
(tracker, governor), the intake's ref keys and sampling, the store, the
outcome series, the metrics' health objects, the config and the API.
"""

from __future__ import annotations

from sms_delivery_exporter.discovery.runner import AccountDiscovery
from sms_delivery_exporter.discovery.walk import FeedCursor, Walk, read_forward, walk_back

__all__ = ["AccountDiscovery", "FeedCursor", "Walk", "read_forward", "walk_back"]

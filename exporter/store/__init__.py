"""The store: tracked refs, their state and schedule, and the outcome counters, durable.

Owns persistence and nothing else: it knows rows, not what they mean.
:class:`Store` is the interface; :class:`SqliteStore` the embedded default,
:class:`PostgresStore` the one several replicas share (leases, a leader).
Imports only :mod:`sms_delivery_exporter.config` (its own settings).
"""

from __future__ import annotations

from sms_delivery_exporter.config import StoreConfig
from sms_delivery_exporter.store.health import PROBLEMS, StoreHealth, StoreUnavailable
from sms_delivery_exporter.store.interface import Store, StoreError
from sms_delivery_exporter.store.leadership import Leadership, leading
from sms_delivery_exporter.store.postgres import PostgresStore
from sms_delivery_exporter.store.rows import (
    DueRef,
    FoundRef,
    InsertResult,
    NewPushEvent,
    NewRef,
    PushEventRow,
    RefUpdate,
    SeriesRow,
)
from sms_delivery_exporter.store.sqlite import SqliteStore
from sms_delivery_exporter.store.watch import watch_store, watching

__all__ = [
    "PROBLEMS",
    "DueRef",
    "FoundRef",
    "InsertResult",
    "Leadership",
    "NewPushEvent",
    "NewRef",
    "PostgresStore",
    "PushEventRow",
    "RefUpdate",
    "SeriesRow",
    "SqliteStore",
    "Store",
    "StoreError",
    "StoreHealth",
    "StoreUnavailable",
    "leading",
    "store_for",
    "watch_store",
    "watching",
]


def store_for(config: StoreConfig) -> Store:
    """The store a config names (not opened yet)."""
    database = config.database
    if database is not None:
        return PostgresStore(database, lease=config.lease, max_connections=config.max_connections)
    return SqliteStore(config.path, synchronous=config.synchronous)

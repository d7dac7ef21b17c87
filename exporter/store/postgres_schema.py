"""The PostgreSQL store's schema, as versioned migrations applied in order at open.

``schema_version`` records how far a database is. Replicas starting at once
take a transaction-level advisory lock first, so one of them migrates and
the others find the work done; each step commits with its version bump.

Beside SQLite's columns, each ref has a ``version``, bumped whenever a
replica takes the ref (a lease) or commits a result for it, and
``lease_until``, the database clock's time (epoch seconds) when a lease
runs out. ``leader`` holds the one replica that serves the shared series.
``push_events`` is the webhook inbox every replica shares.
"""

from __future__ import annotations

MIGRATION_LOCK = 0x5D3E_0001
"""The advisory lock that serialises migrations between replicas starting together."""

MIGRATIONS: tuple[str, ...] = (
    # 1: refs (also the schedule and the leases), outcome series, application label
    # values, the watch's probe row and the leadership of the shared series.
    """
    CREATE TABLE refs (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account text NOT NULL,
        ref_key text NOT NULL,
        labels text NOT NULL DEFAULT '',
        submitted_at double precision NOT NULL,
        tracked_at double precision NOT NULL,
        next_poll_at double precision,
        polls integer NOT NULL DEFAULT 0,
        last_poll_at double precision,
        finished_at double precision,
        state text NOT NULL DEFAULT '',
        priority smallint NOT NULL DEFAULT 0,
        in_flight boolean NOT NULL DEFAULT true,
        version bigint NOT NULL DEFAULT 0,
        lease_until double precision,
        UNIQUE (account, ref_key)
    ) WITH (fillfactor = 80);
    CREATE INDEX refs_due ON refs (account, priority, next_poll_at, id)
        WHERE next_poll_at IS NOT NULL;
    CREATE INDEX refs_in_flight_age ON refs (account, submitted_at) WHERE in_flight;
    CREATE INDEX refs_finished ON refs (finished_at) WHERE finished_at IS NOT NULL;
    CREATE TABLE series (
        name text NOT NULL,
        labels text NOT NULL,
        value double precision NOT NULL,
        PRIMARY KEY (name, labels)
    );
    CREATE TABLE label_values (
        key text NOT NULL,
        value text NOT NULL,
        PRIMARY KEY (key, value)
    );
    CREATE TABLE probe (
        id smallint PRIMARY KEY CHECK (id = 1),
        at double precision NOT NULL
    );
    CREATE TABLE leader (
        id smallint PRIMARY KEY CHECK (id = 1),
        holder text NOT NULL,
        until double precision NOT NULL
    );
    """,
    # 2: webhook events, kept from the acknowledgement of their call until one replica
    # applies them (then only their dedupe key stays, for the dedupe window).
    """
    CREATE TABLE push_events (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        account text NOT NULL,
        dedupe_key text NOT NULL,
        received_at double precision NOT NULL,
        event text NOT NULL,
        applied boolean NOT NULL DEFAULT false,
        UNIQUE (account, dedupe_key)
    );
    CREATE INDEX push_events_pending ON push_events (id) WHERE NOT applied;
    CREATE INDEX push_events_applied ON push_events (account, received_at) WHERE applied;
    """,
    # 3: where discovery left each feed (see the SQLite store's migration 5).
    """
    CREATE TABLE feed_cursors (
        account text NOT NULL,
        feed text NOT NULL,
        cursor text NOT NULL,
        PRIMARY KEY (account, feed)
    );
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

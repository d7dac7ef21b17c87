"""The SQLite store's schema, as versioned migrations applied in order at open.

``PRAGMA user_version`` records how far a file is; each step runs in one
transaction with the version bump, so a crash leaves a file at one version
or the next, never between.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: refs (also the schedule), outcome series, application label values.
    """
    CREATE TABLE IF NOT EXISTS refs (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        ref_key TEXT NOT NULL,
        labels TEXT NOT NULL DEFAULT '',
        submitted_at REAL NOT NULL,
        tracked_at REAL NOT NULL,
        next_poll_at REAL,
        polls INTEGER NOT NULL DEFAULT 0,
        last_poll_at REAL,
        finished_at REAL,
        state TEXT NOT NULL DEFAULT '',
        UNIQUE (account, ref_key)
    );
    CREATE INDEX IF NOT EXISTS refs_due ON refs (account, next_poll_at)
        WHERE next_poll_at IS NOT NULL;
    CREATE INDEX IF NOT EXISTS refs_open_age ON refs (account, submitted_at)
        WHERE finished_at IS NULL;
    CREATE INDEX IF NOT EXISTS refs_finished ON refs (finished_at)
        WHERE finished_at IS NOT NULL;
    CREATE TABLE IF NOT EXISTS series (
        name TEXT NOT NULL,
        labels TEXT NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (name, labels)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS label_values (
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (key, value)
    ) WITHOUT ROWID;
    """,
    # 2: a priority class per ref (0: first polls and open messages; 1: the long
    # tail and read-receipt waits), polled in that order; whether a ref still
    # has a message in flight, for the age of the oldest one.
    """
    ALTER TABLE refs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE refs ADD COLUMN in_flight INTEGER NOT NULL DEFAULT 1;
    UPDATE refs SET in_flight = 0 WHERE next_poll_at IS NULL;
    DROP INDEX refs_due;
    CREATE INDEX refs_due ON refs (account, priority, next_poll_at, id)
        WHERE next_poll_at IS NOT NULL;
    DROP INDEX refs_open_age;
    CREATE INDEX refs_in_flight_age ON refs (account, submitted_at) WHERE in_flight = 1;
    """,
    # 3: one row the store watch writes, to prove that commits still work.
    """
    CREATE TABLE IF NOT EXISTS probe (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        at REAL NOT NULL
    );
    """,
    # 4: webhook events, kept from the acknowledgement of their call until they are
    # applied (then only their dedupe key stays, for the dedupe window).
    """
    CREATE TABLE IF NOT EXISTS push_events (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        dedupe_key TEXT NOT NULL,
        received_at REAL NOT NULL,
        event TEXT NOT NULL,
        applied INTEGER NOT NULL DEFAULT 0,
        UNIQUE (account, dedupe_key)
    );
    CREATE INDEX IF NOT EXISTS push_events_pending ON push_events (id) WHERE applied = 0;
    CREATE INDEX IF NOT EXISTS push_events_applied ON push_events (account, received_at)
        WHERE applied = 1;
    """,
    # 5: where discovery left each feed (a list endpoint, a cursor feed), so that a
    # restart neither skips nor repeats what the feed had.
    """
    CREATE TABLE IF NOT EXISTS feed_cursors (
        account TEXT NOT NULL,
        feed TEXT NOT NULL,
        cursor TEXT NOT NULL,
        PRIMARY KEY (account, feed)
    ) WITHOUT ROWID;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

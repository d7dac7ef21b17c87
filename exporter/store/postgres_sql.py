"""The PostgreSQL store's statements. Each write is one statement, so one round trip and
atomic by itself (connections run in autocommit), arrays in and rows out.

Times of leases are the database's clock (``extract(epoch FROM clock_timestamp())``):
they compare times taken from one clock whichever replica, on whichever machine,
wrote them.
"""

from __future__ import annotations

# Fragments of the statements that commit results (polls' and webhooks'): the ref
# updates of ``changes`` that apply (``done``), and the series rows counted with them.
_CHANGES = """changes AS (
    SELECT * FROM unnest(%(id)s::bigint[], %(version)s::bigint[], %(state)s::text[],
        %(changed)s::bool[], %(polls)s::int[], %(last_poll_at)s::float8[],
        %(next_poll_at)s::float8[], %(finished_at)s::float8[], %(priority)s::int2[],
        %(in_flight)s::bool[])
    AS c(id, version, state, changed, polls, last_poll_at, next_poll_at, finished_at,
        priority, in_flight)
),
"""

_UPDATE_REFS = """    UPDATE refs SET
        state = CASE WHEN c.changed THEN c.state ELSE refs.state END,
        polls = c.polls, last_poll_at = c.last_poll_at, next_poll_at = c.next_poll_at,
        finished_at = c.finished_at, priority = c.priority, in_flight = c.in_flight,
        version = refs.version + 1, lease_until = NULL
    FROM changes AS c
    WHERE refs.id = c.id AND refs.version = c.version
"""

_COUNTED = """counted AS (
    INSERT INTO series (name, labels, value)
    SELECT r.name, r.labels, sum(r.amount)
    FROM unnest(%(row_ref)s::bigint[], %(row_name)s::text[], %(row_labels)s::text[],
        %(row_amount)s::float8[]) AS r(ref, name, labels, amount)
    WHERE r.ref = 0 OR r.ref IN (SELECT id FROM done)
    GROUP BY r.name, r.labels
    ORDER BY r.name, r.labels
    ON CONFLICT (name, labels) DO UPDATE SET value = series.value + excluded.value
)
"""

INSERT_REFS = """
WITH labels_in AS (
    INSERT INTO label_values (key, value)
    SELECT * FROM unnest(%(keys)s::text[], %(values)s::text[])
    ON CONFLICT DO NOTHING
),
new AS (
    INSERT INTO refs (account, ref_key, labels, submitted_at, tracked_at, next_poll_at,
        state, polls, last_poll_at, finished_at, priority, in_flight)
    SELECT * FROM unnest(%(account)s::text[], %(ref_key)s::text[], %(labels)s::text[],
        %(submitted_at)s::float8[], %(tracked_at)s::float8[], %(next_poll_at)s::float8[],
        %(state)s::text[], %(polls)s::int[], %(last_poll_at)s::float8[],
        %(finished_at)s::float8[], %(priority)s::smallint[], %(in_flight)s::bool[])
    ON CONFLICT (account, ref_key) DO NOTHING
    RETURNING account, ref_key
),
counted AS (
    INSERT INTO series (name, labels, value)
    SELECT r.name, r.labels, sum(r.amount)
    FROM unnest(%(row_account)s::text[], %(row_ref_key)s::text[], %(row_name)s::text[],
        %(row_labels)s::text[], %(row_amount)s::float8[])
        AS r(account, ref_key, name, labels, amount)
    JOIN new USING (account, ref_key)
    GROUP BY r.name, r.labels
    ORDER BY r.name, r.labels  -- one lock order for every writer: no deadlock on series rows
    ON CONFLICT (name, labels) DO UPDATE SET value = series.value + excluded.value
)
SELECT account, ref_key FROM new
"""

CLAIM = """
WITH due AS (
    SELECT id FROM refs
    WHERE account = %(account)s AND priority = %(priority)s
        AND next_poll_at IS NOT NULL AND next_poll_at <= %(now)s
        AND (lease_until IS NULL OR lease_until < extract(epoch FROM clock_timestamp()))
    ORDER BY next_poll_at, id
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
)
UPDATE refs SET lease_until = extract(epoch FROM clock_timestamp()) + %(lease)s,
    version = refs.version + 1
FROM due WHERE refs.id = due.id
RETURNING refs.next_poll_at, refs.id, refs.ref_key, refs.labels, refs.submitted_at,
    refs.polls, refs.last_poll_at, refs.state, refs.version
"""

RELEASE = """
UPDATE refs SET lease_until = NULL, version = refs.version + 1
FROM unnest(%(id)s::bigint[], %(version)s::bigint[]) AS r(id, version)
WHERE refs.id = r.id AND refs.version = r.version
"""

# An update applies only to a ref still at the version its poll read (the lease
# still held): a replica that stalled past its lease changes nothing, and its
# series rows are added only for the updates that applied, in the same statement.
# Rows of ref 0 are the batch's own, committed whatever.
APPLY = (
    "WITH "  # noqa: S608 (constant fragments, no input)
    + _CHANGES
    + "done AS (\n"
    + _UPDATE_REFS
    + "    RETURNING refs.id\n),\n"
    + _COUNTED
    + "SELECT id FROM done"
)

# The earliest due time among open refs no live replica holds: in each priority
# class, the first entry of the due index that is not leased.
NEXT_POLL = """
SELECT LEAST(
    (SELECT next_poll_at FROM refs WHERE account = %(account)s AND priority = 0
        AND next_poll_at IS NOT NULL
        AND (lease_until IS NULL OR lease_until < extract(epoch FROM clock_timestamp()))
        ORDER BY next_poll_at LIMIT 1),
    (SELECT next_poll_at FROM refs WHERE account = %(account)s AND priority = 1
        AND next_poll_at IS NOT NULL
        AND (lease_until IS NULL OR lease_until < extract(epoch FROM clock_timestamp()))
        ORDER BY next_poll_at LIMIT 1))
"""

OLDEST_OPEN = "SELECT min(submitted_at) FROM refs WHERE account = %(account)s AND in_flight"

PRUNE = """
DELETE FROM refs WHERE id IN (
    SELECT id FROM refs WHERE finished_at IS NOT NULL AND finished_at < %(before)s
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
"""

PROBE = """
INSERT INTO probe (id, at) VALUES (1, extract(epoch FROM clock_timestamp()))
ON CONFLICT (id) DO UPDATE SET at = excluded.at
"""

LEAD = """
INSERT INTO leader (id, holder, until)
VALUES (1, %(holder)s, extract(epoch FROM clock_timestamp()) + %(ttl)s)
ON CONFLICT (id) DO UPDATE SET holder = excluded.holder, until = excluded.until
WHERE leader.holder = excluded.holder OR leader.until < extract(epoch FROM clock_timestamp())
RETURNING holder
"""

RESIGN = "DELETE FROM leader WHERE holder = %(holder)s"

SIZE = """
SELECT coalesce(sum(pg_total_relation_size(c)), 0)
FROM unnest(ARRAY['refs', 'series', 'label_values', 'probe', 'leader', 'push_events']::regclass[])
    AS c
"""

# Webhooks. Any replica may receive an account's calls, and any replica may apply
# an event kept by one that died: an event is applied by the commit that marks it,
# and that commit changes a ref only at the version the applier read and only if
# none of the events it applies to the ref was applied since (by another replica),
# or pruned since (applied long ago). The events' rows are locked first, in id
# order, in the same transaction: APPLY_PUSH's snapshot is then taken after any
# other replica's commit of them, so its ``stale`` sees that commit.

LOCK_PUSH_EVENTS = """
SELECT id FROM push_events WHERE id = ANY(%(event_id)s::bigint[]) ORDER BY id FOR UPDATE
"""

ADD_PUSH_EVENTS = """
INSERT INTO push_events (account, dedupe_key, received_at, event)
SELECT * FROM unnest(%(account)s::text[], %(dedupe_key)s::text[], %(received_at)s::float8[],
    %(event)s::text[])
ON CONFLICT (account, dedupe_key) DO NOTHING
RETURNING id, account, dedupe_key
"""

PENDING_PUSH_EVENTS = """
SELECT id, account, received_at, event FROM push_events
WHERE NOT applied AND id > %(after)s
    AND (%(before)s::float8 IS NULL OR received_at < %(before)s::float8)
ORDER BY id LIMIT %(limit)s
"""

FIND_REFS = """
SELECT id, ref_key, labels, submitted_at, polls, last_poll_at, state, version, next_poll_at
FROM refs WHERE account = %(account)s AND ref_key = ANY(%(keys)s::text[])
"""

APPLY_PUSH = (
    "WITH "  # noqa: S608 (constant fragments, no input)
    + _CHANGES
    + """events AS (
    SELECT * FROM unnest(%(event_id)s::bigint[], %(event_ref)s::bigint[]) AS e(id, ref)
),
stale AS (
    SELECT e.id, e.ref FROM events AS e LEFT JOIN push_events AS p ON p.id = e.id
    WHERE p.id IS NULL OR p.applied
),
done AS (
"""
    + _UPDATE_REFS
    + """        AND c.id NOT IN (SELECT ref FROM stale)
    RETURNING refs.id
),
marked AS (
    UPDATE push_events SET applied = true, event = ''
    FROM events AS e
    WHERE push_events.id = e.id AND NOT push_events.applied
        AND (e.ref = 0 OR e.ref IN (SELECT id FROM done))
    RETURNING push_events.id
),
"""
    + _COUNTED
    + """SELECT 'applied', id FROM marked
UNION ALL SELECT 'stale', id FROM stale
UNION ALL SELECT 'ref', id FROM done
"""
)

PRUNE_PUSH_EVENTS = """
DELETE FROM push_events WHERE id IN (
    SELECT id FROM push_events
    WHERE account = %(account)s AND applied AND received_at < %(before)s
    LIMIT %(limit)s FOR UPDATE SKIP LOCKED)
"""

CURSOR = "SELECT cursor FROM feed_cursors WHERE account = %(account)s AND feed = %(feed)s"

SAVE_CURSOR = """
INSERT INTO feed_cursors (account, feed, cursor) VALUES (%(account)s, %(feed)s, %(cursor)s)
ON CONFLICT (account, feed) DO UPDATE SET cursor = excluded.cursor
"""

"""A queue mirror of many rows, shaped like production, seeded in SQL (`generate_series`).

Most events completed over the last 30 days, one in 500 dead (with its dead-letter row), and
a tail of 300 pending / processing / failed ones. Shared by the dashboard's index test and
the bench's dashboard figure, so both measure the same mirror.
"""
from __future__ import annotations

from sqlalchemy import text

SEED = """
INSERT INTO tds_sync_queue (entity_type, entity_id, operation, status, source, payload, payload_hash, dedupe_key,
                            error_message, retry_count, created_at, updated_at, completed_at)
SELECT e.entity, (2646610000000000000 + g)::text, 'upsert', s.status, 'webhook',
       jsonb_build_object('item', jsonb_build_object('item_id', (2646610000000000000 + g)::text, 'name', 'Item ' || g)),
       md5(g::text), md5('seed' || g::text),
       CASE WHEN s.status IN ('failed', 'dead') THEN 'HTTP 500 from Zoho' END,
       CASE WHEN s.status IN ('failed', 'dead') THEN 3 ELSE 0 END,
       t.ts, t.ts, CASE WHEN s.status = 'completed' THEN t.ts + (g % 90) * interval '1 second' END
  FROM generate_series(:lo, :hi) AS g
 CROSS JOIN LATERAL (SELECT now() - (:n - g) * (interval '30 days' / :n) AS ts) AS t
 CROSS JOIN LATERAL (SELECT (CAST(:entities AS text[]))[1 + g % cardinality(CAST(:entities AS text[]))] AS entity) AS e
 CROSS JOIN LATERAL (SELECT CASE WHEN g > :n - 300 THEN (ARRAY['pending','pending','processing','failed'])[1 + g % 4]
                                 WHEN g % 500 = 0 THEN 'dead' ELSE 'completed' END AS status) AS s
"""

CHUNK = 250_000


def seed_mirror(engine, rows: int, *, vacuum: bool = False) -> None:
    """Insert `rows` events (in chunks of `CHUNK`) and their dead letters; refresh the statistics."""
    from zoho.entities import entity_names

    for lo in range(1, rows + 1, CHUNK):
        with engine.begin() as c:
            c.execute(text(SEED), {"lo": lo, "hi": min(rows, lo + CHUNK - 1), "n": rows, "entities": entity_names()})
    with engine.begin() as c:
        c.execute(text(
            "INSERT INTO tds_dead_letter_queue "
            "(original_id, entity_type, entity_id, operation, payload, error_message) "
            "SELECT id, entity_type, entity_id, operation, payload, error_message FROM tds_sync_queue "
            "WHERE status = 'dead'"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE tds_sync_queue" if vacuum else "ANALYZE tds_sync_queue"))
        c.execute(text("ANALYZE tds_dead_letter_queue"))

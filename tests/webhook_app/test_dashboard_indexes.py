"""Every query the dashboard, the health verdict and the snapshot run against the mirror reads an index, never the whole table.

200,000 events are seeded in one `INSERT … SELECT generate_series`, the statistics refreshed,
then each statement actually issued by the endpoints is captured and EXPLAINed with its own
parameters: no plan may contain a sequential scan of `tds_sync_queue`. (No timing assertion:
plans are what stays true on a bigger or slower machine.)
"""
from __future__ import annotations

import pytest
from sqlalchemy import event, text

from tasks.monitor import take_snapshot
from tests.conftest import TEST_ADMIN_TOKEN
from webhook_app import create_app
from zoho.entities import entity_names

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
ROWS = 200_000

SEED = """
INSERT INTO tds_sync_queue (entity_type, entity_id, operation, status, source, payload, payload_hash, dedupe_key,
                            error_message, retry_count, created_at, updated_at, completed_at)
SELECT e.entity, (2646610000000000000 + g)::text, 'upsert', s.status, 'webhook',
       jsonb_build_object('item', jsonb_build_object('item_id', (2646610000000000000 + g)::text, 'name', 'Item ' || g)),
       md5(g::text), md5('seed' || g::text),
       CASE WHEN s.status IN ('failed', 'dead') THEN 'HTTP 500 from Zoho' END,
       CASE WHEN s.status IN ('failed', 'dead') THEN 3 ELSE 0 END,
       t.ts, t.ts, CASE WHEN s.status = 'completed' THEN t.ts + (g % 90) * interval '1 second' END
  FROM generate_series(1, :n) AS g
 CROSS JOIN LATERAL (SELECT now() - (:n - g) * (interval '30 days' / :n) AS ts) AS t
 CROSS JOIN LATERAL (SELECT (CAST(:entities AS text[]))[1 + g % cardinality(CAST(:entities AS text[]))] AS entity) AS e
 CROSS JOIN LATERAL (SELECT CASE WHEN g > :n - 300 THEN (ARRAY['pending','pending','processing','failed'])[1 + g % 4]
                                 WHEN g % 500 = 0 THEN 'dead' ELSE 'completed' END AS status) AS s
"""


@pytest.fixture(autouse=True)
def quick_worker_probe(monkeypatch):
    monkeypatch.setattr("tasks.health.WORKER_TIMEOUT_SECONDS", 0.2)


def seed_mirror(engine) -> None:
    with engine.begin() as c:
        c.execute(text(SEED), {"n": ROWS, "entities": entity_names()})
        c.execute(text(
            "INSERT INTO tds_dead_letter_queue (original_id, entity_type, entity_id, operation, payload, error_message) "
            "SELECT id, entity_type, entity_id, operation, payload, error_message FROM tds_sync_queue "
            "WHERE status = 'dead'"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE tds_sync_queue"))
        c.execute(text("ANALYZE tds_dead_letter_queue"))


def test_the_hot_queries_never_scan_the_whole_mirror(db, redis_client):
    seed_mirror(db)
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "tds_sync_queue" in statement and not statement.lstrip().upper().startswith(("EXPLAIN", "INSERT")):
            captured.append((statement, parameters))

    event.listen(db, "before_cursor_execute", capture)
    try:
        client = create_app().test_client()
        urls = ["/api/zoho/dashboard/health", "/api/zoho/dashboard/stats", "/api/zoho/dashboard/metrics",
                "/api/zoho/dashboard/queue", "/api/zoho/dashboard/queue?page=3&per_page=200",
                "/api/zoho/dashboard/queue?status=failed", "/api/zoho/dashboard/queue?status=completed",
                "/api/zoho/dashboard/queue?status=dead,failed&entity=products",
                "/api/zoho/dashboard/queue?entity=vendors",
                "/api/zoho/dashboard/queue?since=2020-01-01T00:00:00Z&until=2100-01-01T00:00:00Z",
                "/api/zoho/dashboard/queue/12345", "/api/zoho/dashboard/dead-letters", "/dashboard"]
        for url in urls:
            assert client.get(url, headers=AUTH).status_code == 200, url
        take_snapshot(probe_workers=False, zoho=False)
    finally:
        event.remove(db, "before_cursor_execute", capture)

    distinct = {stmt: params for stmt, params in captured}
    assert len(distinct) >= 12, "the endpoints ran fewer queries than expected: is the capture working?"
    raw = db.raw_connection()
    try:
        cursor = raw.cursor()
        offenders = []
        for statement, params in distinct.items():
            cursor.execute("EXPLAIN " + statement, params)
            plan = "\n".join(row[0] for row in cursor.fetchall())
            if "Seq Scan on tds_sync_queue" in plan:
                offenders.append(f"{statement.strip()}\n{plan}")
        raw.rollback()
    finally:
        raw.close()
    assert not offenders, "sequential scans of tds_sync_queue:\n\n" + "\n\n".join(offenders)

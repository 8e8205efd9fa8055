"""Every query the dashboard, the health verdict and the snapshot run against the mirror reads an index, never the whole table.

50,000 events are seeded in one `INSERT … SELECT generate_series`, the statistics refreshed,
then each statement actually issued by the endpoints is captured and EXPLAINed with its own
parameters: no plan may contain a sequential scan of `tds_sync_queue`. (No timing assertion:
plans are what stays true on a bigger or slower machine.)
"""
from __future__ import annotations

import pytest
from sqlalchemy import event

from tasks.monitor import take_snapshot
from tests.conftest import TEST_ADMIN_TOKEN
from tests.support.mirror import seed_mirror
from webhook_app import create_app

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
ROWS = 50_000


@pytest.fixture(autouse=True)
def quick_worker_probe(monkeypatch):
    monkeypatch.setattr("tasks.health.WORKER_TIMEOUT_SECONDS", 0.2)


def test_the_hot_queries_never_scan_the_whole_mirror(db, redis_client):
    seed_mirror(db, ROWS)
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

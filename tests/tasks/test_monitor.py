"""`monitor.snapshot`: metrics rows, alerts with hysteresis (raised once, cleared once), optional notifications."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from sqlalchemy import text

import beat_schedule
from models.db import reset_engine
from models.settings import reset_settings
from tasks import app
from tasks import monitor
from tasks.health import Check
from tasks.monitor import take_snapshot
from tests.conftest import TEST_ADMIN_TOKEN, TEST_WEBHOOK_SECRET
from tests.support.procs import free_port
from tests.tasks.test_health import seed


def q(db, sql, **params):
    with db.begin() as c:
        return c.execute(text(sql), params).all()


def snapshot() -> dict:
    return take_snapshot(probe_workers=False, zoho=False)


def a_minute_passes(db, seconds: int = 60) -> None:
    """Move every recorded level back in time, as if the last snapshot were `seconds` old (frozen time)."""
    q(db, "UPDATE tds_metrics SET recorded_at = recorded_at - make_interval(secs => :s) RETURNING id", s=seconds)


@pytest.fixture
def inbox(monkeypatch):
    """A local Slack-like receiver; ALERT_WEBHOOK_URL points at it."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"content_type": self.headers["Content-Type"], "body": json.loads(body)})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{server.server_port}/hooks/T000/B000")
    reset_settings()
    yield received
    server.shutdown()
    monkeypatch.undo()
    reset_settings()


def alerts(db, name="health.pending"):
    return q(db, "SELECT severity, raised_at, cleared_at, notified_at FROM tds_alerts WHERE check_name = :n", n=name)


def test_an_alert_is_raised_once_a_condition_held_a_minute_regraded_when_worse_and_cleared_a_minute_later(
        db, redis_client, inbox):
    seed(db, 60, "pending")
    assert snapshot()["status"] == "warning"
    assert alerts(db) == []  # one bad snapshot is not a condition yet
    a_minute_passes(db)
    report = snapshot()
    assert [a["kind"] for a in report["alerts"]] == ["raised"]
    assert [a.severity for a in alerts(db)] == ["warning"]

    seed(db, 150, "pending")  # 210 pending: critical
    a_minute_passes(db)
    assert snapshot()["status"] == "critical"
    assert [a.severity for a in alerts(db)] == ["warning"]  # critical for a moment is not critical yet
    a_minute_passes(db)
    assert [a["kind"] for a in snapshot()["alerts"]] == ["changed"]
    assert [a.severity for a in alerts(db)] == ["critical"]

    q(db, "DELETE FROM tds_sync_queue RETURNING id")
    a_minute_passes(db)
    assert snapshot()["status"] == "healthy"
    assert alerts(db)[0].cleared_at is None  # healthy for a moment does not clear
    a_minute_passes(db)
    assert [a["kind"] for a in snapshot()["alerts"]] == ["cleared"]
    a_minute_passes(db)
    assert snapshot()["alerts"] == []

    rows = alerts(db)
    assert len(rows) == 1, "raised once, re-graded in place, cleared once"
    assert rows[0].cleared_at is not None and rows[0].notified_at is not None

    texts = [m["body"]["text"] for m in inbox]
    assert len(inbox) == 3 and all(m["content_type"] == "application/json" for m in inbox)
    assert "WARNING raised" in texts[0] and "pending" in texts[0]
    assert "now CRITICAL" in texts[1] and "210" in texts[1]
    assert "cleared" in texts[2]
    assert all(TEST_ADMIN_TOKEN not in t and TEST_WEBHOOK_SECRET not in t for t in texts)


def test_a_single_bad_snapshot_between_good_ones_raises_nothing(db, redis_client):
    snapshot()
    ids = seed(db, 60, "pending")
    a_minute_passes(db)
    snapshot()
    q(db, "DELETE FROM tds_sync_queue WHERE id = ANY(:ids) RETURNING id", ids=ids)
    a_minute_passes(db)
    snapshot()
    a_minute_passes(db)
    snapshot()
    assert q(db, "SELECT * FROM tds_alerts") == []


def test_two_snapshots_in_the_same_minute_do_not_raise_an_alert_on_a_transient(db, redis_client):
    """Two beats (or a manual run next to beat's) take two snapshots seconds apart: that is one moment."""
    ids = seed(db, 210, "pending")  # critical
    assert snapshot()["status"] == "critical"
    assert snapshot()["alerts"] == [] and snapshot()["alerts"] == []
    q(db, "DELETE FROM tds_sync_queue WHERE id = ANY(:ids) RETURNING id", ids=ids)
    a_minute_passes(db, 30)
    snapshot()
    a_minute_passes(db, 30)
    snapshot()
    assert q(db, "SELECT * FROM tds_alerts") == []


def test_an_unknown_verdict_neither_raises_nor_clears(db, redis_client, monkeypatch):
    seed(db, 60, "pending")
    snapshot()
    a_minute_passes(db)
    snapshot()
    assert alerts(db)[0].cleared_at is None
    real = monitor.evaluate

    def pending_unknown(**kwargs):
        snap = real(**kwargs)
        snap.checks["pending"] = Check("pending", None, None, "unknown", "cannot tell")
        return snap

    monkeypatch.setattr(monitor, "evaluate", pending_unknown)
    q(db, "DELETE FROM tds_sync_queue RETURNING id")
    a_minute_passes(db)
    snapshot()
    a_minute_passes(db)
    snapshot()
    assert alerts(db)[0].cleared_at is None, "unknown is not healthy"
    monkeypatch.undo()
    snapshot()
    a_minute_passes(db)
    snapshot()
    assert alerts(db)[0].cleared_at is not None


def test_a_failing_notification_does_not_fail_the_snapshot(db, redis_client, monkeypatch):
    monkeypatch.setenv("ALERT_WEBHOOK_URL", f"http://127.0.0.1:{free_port()}/nobody-listens")
    reset_settings()
    try:
        seed(db, 25, "failed", error="HTTP 500")
        snapshot()
        a_minute_passes(db)
        report = snapshot()
    finally:
        monkeypatch.undo()
        reset_settings()
    assert [a["check"] for a in report["alerts"]] == ["failed"]
    row = alerts(db, "health.failed")[0]
    assert row.severity == "critical" and row.notified_at is None


def test_a_snapshot_records_queue_rate_latency_and_delay_metrics(db, redis_client):
    seed(db, 7, "pending", "customers", age_minutes=40)
    seed(db, 2, "failed", "products", error="HTTP 500")
    seed(db, 10, "completed", "products", age_minutes=2, latency_seconds=30)
    snapshot()
    metrics = {(r.name, r.entity_type): r.value for r in q(db, "SELECT name, entity_type, value FROM tds_metrics")}
    assert metrics[("pending", None)] == 7 and metrics[("pending", "customers")] == 7
    assert metrics[("failed", None)] == 2
    assert metrics[("processing_rate", None)] == pytest.approx(10 / 5)
    assert metrics[("processing_rate", "products")] == pytest.approx(10 / 5)
    assert metrics[("latency_p95_seconds", None)] == pytest.approx(30, abs=0.5)
    assert 40 * 60 - 5 <= metrics[("sync_delay_seconds", "customers")] <= 41 * 60
    assert metrics[("check:sync_delay.customers", None)] == 1  # warning
    assert metrics[("status", None)] == 1


def test_the_snapshot_is_on_beat_every_minute_and_routed_to_maintenance():
    entry = beat_schedule.beat_schedule["monitor.snapshot"]
    assert entry["task"] == "monitor.snapshot" and entry["schedule"] == 60.0
    assert "monitor.snapshot" in app.tasks and "monitor.canary" in app.tasks
    route = app.amqp.router.route({}, "monitor.snapshot")
    assert route["queue"].name == "maintenance"


def test_metrics_older_than_the_retention_are_pruned(db, redis_client):
    q(db, "INSERT INTO tds_metrics (name, value, recorded_at) SELECT 'pending', g, now() - interval '20 days' "
          "FROM generate_series(1, 30) g RETURNING id")
    q(db, "INSERT INTO tds_metrics (name, value, recorded_at) VALUES ('pending', 1, now() - interval '2 days') "
          "RETURNING id")
    snapshot()
    assert q(db, "SELECT count(*) FROM tds_metrics WHERE recorded_at < now() - interval '14 days'")[0][0] == 0
    assert q(db, "SELECT count(*) FROM tds_metrics WHERE recorded_at < now() - interval '1 day'")[0][0] == 1


def test_with_the_database_down_the_snapshot_notifies_once_and_does_not_raise(db, redis_client, inbox, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    reset_engine()
    try:
        first = snapshot()
        second = snapshot()
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert first["status"] == second["status"] == "emergency"
    assert len(inbox) == 1 and "EMERGENCY" in inbox[0]["body"]["text"]
    assert "PostgreSQL" in inbox[0]["body"]["text"] and "nowhere" not in inbox[0]["body"]["text"]

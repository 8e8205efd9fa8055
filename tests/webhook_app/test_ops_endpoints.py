"""Operator answers over HTTP: error patterns, recent pulls, Zoho vs ERP, alert acknowledgement, bulk-sync options."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from tests.conftest import TEST_ADMIN_TOKEN
from tests.tasks.test_health import seed

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
API = "/api/zoho/dashboard"


@pytest.fixture(autouse=True)
def quick_worker_probe(monkeypatch):
    monkeypatch.setattr("tasks.health.WORKER_TIMEOUT_SECONDS", 0.2)


def q(db, sql, **params):
    with db.begin() as c:
        result = c.execute(text(sql), params)
        return result.all() if result.returns_rows else []


def _alert(db) -> int:
    return q(db, "INSERT INTO tds_alerts (check_name, severity, message) VALUES ('failed', 'warning', '6 failed') "
                 "RETURNING id")[0][0]


def _run(db) -> None:
    q(db, "INSERT INTO tds_sync_runs (entity_type, kind, status, api_calls, fetched, changed, failed, duration_ms, "
          "finished_at) VALUES ('invoices', 'incremental', 'completed', 575, 4000, 3900, 2, 660000, now())")


@pytest.mark.parametrize("url", [f"{API}/errors", f"{API}/pulls", f"{API}/zoho-vs-erp"])
def test_the_new_json_answers_need_the_admin_token(client, url):
    assert client.get(url).status_code == 401
    assert client.get(url, headers=AUTH).status_code == 200


def test_error_patterns_group_failures_by_entity_and_error(client, db):
    seed(db, 3, "failed", "products", error="HTTP 500")
    seed(db, 1, "dead", "customers", error="bad rate")
    patterns = client.get(f"{API}/errors", headers=AUTH).json["patterns"]
    assert {(p["entity_type"], p["error"], p["n"], p["dead"]) for p in patterns} == {
        ("products", "HTTP 500", 3, 0), ("customers", "bad rate", 1, 1)}
    assert client.get(f"{API}/errors?hours=abc", headers=AUTH).status_code == 422  # as /queue answers a bad number


def test_recent_pulls_answer_the_runs_table_with_iso_dates(client, db):
    _run(db)
    (run,) = client.get(f"{API}/pulls", headers=AUTH).json["pulls"]
    assert (run["entity_type"], run["kind"], run["api_calls"], run["fetched"], run["changed"], run["failed"],
            run["duration_ms"]) == ("invoices", "incremental", 575, 4000, 3900, 2, 660000)
    assert "T" in run["started_at"] and "GMT" not in run["started_at"]
    assert client.get(f"{API}/pulls?entity=unicorns", headers=AUTH).status_code == 404


def test_zoho_vs_erp_lists_every_entity_with_its_last_reconciliation(client, db):
    q(db, "INSERT INTO tds_reconcile_results (entity_type, zoho_count, erp_count, missing, stale, extra, match_pct) "
          "VALUES ('products', 50, 49, 1, 0, 0, 98.00)")
    rows = {r["entity"]: r for r in client.get(f"{API}/zoho-vs-erp", headers=AUTH).json["entities"]}
    assert (rows["products"]["zoho_count"], rows["products"]["match_pct"]) == (50, "98.00")
    assert rows["customers"]["last_reconciled_at"] is None


def test_the_page_shows_recent_pulls_error_patterns_and_zoho_vs_erp(client, db):
    _run(db)
    seed(db, 2, "failed", "products", error="HTTP 502 upstream")
    page = client.get("/dashboard", headers=AUTH).get_data(as_text=True)
    for section in ('id="recent-pulls"', 'id="error-patterns"', 'id="zoho-vs-erp"'):
        assert section in page
    assert 'data-pull="' in page and "HTTP 502 upstream" in page


def test_an_alert_is_acknowledged_with_a_json_body_and_shows_as_such(client, db):
    alert_id = _alert(db)
    url = f"/api/zoho/admin/alerts/{alert_id}/ack"
    assert client.post(url).status_code == 401
    assert client.post(url, headers=AUTH, data="note=hi",
                       content_type="application/x-www-form-urlencoded").status_code == 400
    r = client.post(url, headers=AUTH, json={"note": "on it"})
    assert r.status_code == 200 and r.json["acknowledged_by"] == "admin-api"
    (alert,) = client.get(f"{API}/alerts", headers=AUTH).json["open"]
    assert alert["acknowledged_at"] and alert["acknowledged_by"] == "admin-api"
    assert client.post(url, headers=AUTH).status_code == 200  # again: no body, a no-op
    assert client.post("/api/zoho/admin/alerts/999999/ack", headers=AUTH, json={}).status_code == 404


def test_stats_estimate_completed_rows_without_waiting_for_analyze(client, db):
    seed(db, 40, "completed")
    from tests.support.procs import wait_for

    wait_for(lambda: client.get(f"{API}/stats", headers=AUTH).json["completed_total_estimate"] >= 40, timeout=15,
             message="the completed estimate counts the new rows")


def test_bulk_sync_status_dates_are_iso_8601(client, db):
    _run(db)
    body = client.get("/api/zoho/bulk-sync/status", headers=AUTH).json
    started = body["entities"]["invoices"]["last_run"]["started_at"]
    assert "T" in started and "GMT" not in started


@pytest.mark.parametrize("option", ["batch_size", "active_only", "with_stock_only", "colour"])
def test_bulk_sync_refuses_options_it_cannot_honour_naming_them(client, option):
    r = client.post("/api/zoho/bulk-sync/products", headers=AUTH, json={option: True})
    assert r.status_code == 400 and r.json["options"] == [option] and option in r.json["message"]


def _queued(redis_client) -> list[tuple[str, list, dict]]:
    import base64

    out = []
    for key in ("bulk", "bulk\x06\x163", "bulk\x06\x166", "bulk\x06\x169"):
        for raw in redis_client.lrange(key, 0, -1):
            msg = json.loads(raw)
            args, kwargs, _ = json.loads(base64.b64decode(msg["body"]))
            out.append((msg["headers"]["task"], args, kwargs))
    return out


def test_bulk_sync_honours_incremental_modified_since_and_sync_images(client, redis_client):
    r = client.post("/api/zoho/bulk-sync/customers", headers=AUTH, json={"incremental": False})
    assert r.status_code == 202 and r.json["full"] is True
    r = client.post("/api/zoho/bulk-sync/customers", headers=AUTH, json={"modified_since": "2026-11-01T00:00:00Z"})
    assert r.status_code == 202 and r.json["modified_since"] == "2026-11-01T00:00:00+00:00"
    r = client.post("/api/zoho/bulk-sync/products", headers=AUTH, json={"sync_images": True})
    assert r.status_code == 202 and r.json["images_task_id"]
    assert sorted(_queued(redis_client)) == sorted([
        ("bulk.pull", ["customers"], {"full": True}),
        ("bulk.pull_since", ["customers", "2026-11-01T00:00:00+00:00"], {}),
        ("bulk.pull", ["products"], {"full": False}),
        ("images.sync_products", [], {})])
    assert client.post("/api/zoho/bulk-sync/customers", headers=AUTH,
                       json={"modified_since": "yesterday"}).status_code == 400
    assert client.post("/api/zoho/bulk-sync/customers", headers=AUTH, json={"sync_images": True}).status_code == 400


def test_bulk_sync_pricelists_is_an_alias_of_prices(client, redis_client):
    r = client.post("/api/zoho/bulk-sync/pricelists", headers=AUTH)
    assert r.status_code == 202 and r.json["entity"] == "prices"
    assert _queued(redis_client) == [("bulk.pull", ["prices"], {"full": False})]


def test_an_operators_document_pull_waits_behind_catalog_pulls_by_priority(client, redis_client):
    assert client.post("/api/zoho/bulk-sync/invoices", headers=AUTH).status_code == 202
    assert client.post("/api/zoho/bulk-sync/products", headers=AUTH).status_code == 202
    assert redis_client.llen("bulk") == 1 and redis_client.llen("bulk\x06\x166") == 1  # products first-served

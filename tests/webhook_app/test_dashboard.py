"""The dashboard's JSON API and page: admin token everywhere, numbers equal to the database, nothing unescaped, no secret."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text

from models.db import reset_engine
from models.settings import reset_settings
from tests.conftest import TEST_ADMIN_TOKEN, TEST_WEBHOOK_SECRET
from tests.tasks.test_health import seed, seed_dead_letters

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
API = "/api/zoho/dashboard"
JSON_ENDPOINTS = [f"{API}/health", f"{API}/stats", f"{API}/queue", f"{API}/queue/1", f"{API}/metrics",
                  f"{API}/dead-letters", f"{API}/alerts"]


@pytest.fixture(autouse=True)
def quick_worker_probe(monkeypatch):
    """No worker runs here, so every probe would wait its whole timeout; a short one says the same."""
    monkeypatch.setattr("tasks.health.WORKER_TIMEOUT_SECONDS", 0.2)


def q(db, sql, **params):
    with db.begin() as c:
        return c.execute(text(sql), params).all()


@pytest.mark.parametrize("url", JSON_ENDPOINTS)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"X-Admin-Token": "x"}])
def test_every_json_endpoint_needs_the_admin_token(client, url, headers):
    r = client.get(url, headers=headers)
    assert r.status_code == 401 and r.is_json


def test_health_answers_the_verdict_with_its_checks(client, db):
    seed(db, 51, "pending")
    r = client.get(f"{API}/health", headers=AUTH)
    assert r.status_code == 200
    body = r.json
    assert body["status"] in ("warning", "critical")  # no worker runs here: workers are critical
    assert body["checks"]["pending"] == {"value": 51, "threshold": {"warning": 50, "critical": 200},
                                         "verdict": "warning", "message": "51 event(s) waiting for a worker"}
    assert body["checks"]["workers"]["verdict"] == "critical"


def test_health_with_the_database_down_is_an_emergency_in_json_and_other_endpoints_answer_503(client, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    reset_engine()
    try:
        health = client.get(f"{API}/health", headers=AUTH)
        stats = client.get(f"{API}/stats", headers=AUTH)
        page = client.get("/dashboard", headers=AUTH)
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert health.status_code == 200 and health.json["status"] == "emergency"
    assert health.json["checks"]["database"]["verdict"] == "emergency"
    assert stats.status_code == 503 and stats.json["error"] == "database_unavailable"
    assert page.status_code == 200 and b"The database did not answer" in page.data
    assert b'data-status="emergency"' in page.data


def test_stats_count_every_status_per_entity_and_the_last_24_hours(client, db):
    seed(db, 3, "pending", "products")
    seed(db, 2, "processing", "customers")
    seed(db, 4, "failed", "customers", error="HTTP 500")
    seed_dead_letters(db, 2, entity="vendors")
    seed_dead_letters(db, 1, resolved=True, entity="vendors")
    seed(db, 6, "completed", "products", age_minutes=30)
    seed(db, 5, "completed", "customers", age_minutes=60 * 30)  # older than a day
    body = client.get(f"{API}/stats", headers=AUTH).json
    assert body["by_status"] == {"pending": 3, "processing": 2, "failed": 4, "dead": 3}
    assert body["by_entity"]["products"] == {"pending": 3, "processing": 0, "failed": 0, "dead": 0,
                                             "completed_last_24h": 6}
    assert body["by_entity"]["customers"]["failed"] == 4 and body["by_entity"]["customers"]["completed_last_24h"] == 0
    assert body["by_entity"]["vendors"]["dead"] == 3
    assert body["completed_last_24h"] == 6
    assert body["dead_letters_unresolved"] == 2
    assert body["dead_lettered_last_24h"] == 3
    assert body["failure_rate_24h"] == pytest.approx(3 / 9, abs=1e-4)
    assert body["received_last_24h"] == 3 + 2 + 4 + 3 + 6


def test_queue_is_paged_newest_first_and_filtered(client, db):
    old = seed(db, 3, "completed", "products", age_minutes=120)
    new = seed(db, 4, "pending", "customers", age_minutes=1)
    r = client.get(f"{API}/queue?per_page=5", headers=AUTH).json
    assert [e["id"] for e in r["events"]] == sorted(new, reverse=True) + [max(old)]
    assert r["has_more"] is True and r["page"] == 1
    assert "payload" not in r["events"][0]
    page2 = client.get(f"{API}/queue?per_page=5&page=2", headers=AUTH).json
    assert [e["id"] for e in page2["events"]] == sorted(old, reverse=True)[1:] and page2["has_more"] is False

    assert {e["id"] for e in client.get(f"{API}/queue?status=completed", headers=AUTH).json["events"]} == set(old)
    assert {e["id"] for e in client.get(f"{API}/queue?entity=customers", headers=AUTH).json["events"]} == set(new)
    assert client.get(f"{API}/queue?status=pending&entity=products", headers=AUTH).json["events"] == []
    since = (dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=30)).isoformat()
    r = client.get(f"{API}/queue", query_string={"since": since}, headers=AUTH).json
    assert {e["id"] for e in r["events"]} == set(new)
    r = client.get(f"{API}/queue", query_string={"until": since}, headers=AUTH).json
    assert {e["id"] for e in r["events"]} == set(old)
    with_payload = client.get(f"{API}/queue?include_payload=1&per_page=1", headers=AUTH).json["events"][0]
    assert with_payload["payload"]["item"]["item_id"]


def test_queue_rejects_what_it_cannot_honour(client):
    for query in ("per_page=201", "per_page=0", "page=0", "page=x", "status=lost", "entity=nope",
                  "since=yesterday", "page=1000&per_page=200"):
        r = client.get(f"{API}/queue?{query}", headers=AUTH)
        assert r.status_code == 422, query
    assert client.get(f"{API}/queue?per_page=200", headers=AUTH).status_code == 200


def test_one_event_with_its_payload_and_dead_letter(client, db):
    (eid,) = seed_dead_letters(db, 1)
    body = client.get(f"{API}/queue/{eid}", headers=AUTH).json
    assert body["id"] == eid and body["status"] == "dead" and body["payload"]["item"]
    assert body["dead_letters"][0]["error_class"] == "MappingError"
    assert client.get(f"{API}/queue/{eid + 1000}", headers=AUTH).status_code == 404


def test_metrics_measure_rate_latency_growth_delay_budget_and_refusals(client, db):
    seed(db, 6, "completed", "products", age_minutes=3, latency_seconds=10)
    seed(db, 4, "completed", "products", age_minutes=4, latency_seconds=50)
    seed(db, 2, "pending", "vendors", age_minutes=45)
    before = client.get(f"{API}/metrics", headers=AUTH).json["webhook_refusals"]["counts"].get("unauthorized", 0)
    assert client.post("/api/zoho/webhooks/products", json={"item": {}}).status_code == 401  # counted
    body = client.get(f"{API}/metrics", headers=AUTH).json
    rate = body["processing_rate"]
    assert rate["by_entity"]["products"] == {"completed_last_hour": 10, "per_minute": round(10 / 60, 3)}
    assert len(rate["minutes"]) == 60 and sum(rate["series"]["products"]) == 10
    assert body["latency"]["samples"] == 10
    assert body["latency"]["p50_seconds"] == pytest.approx(10) and body["latency"]["p95_seconds"] == pytest.approx(50)
    growth = body["queue_growth"]
    assert growth["received_last_hour"] == 12 and growth["applied_last_hour"] == 10 and growth["net_per_hour"] == 2
    assert body["failure_rate"]["last_hour"] == 0
    assert body["entities"]["vendors"]["delay_seconds"] >= 45 * 60 - 5
    assert body["entities"]["products"]["last_sync"] is not None
    assert sum(p["completed"] for p in body["rate_history"]["points"]) == 10
    assert body["zoho"]["rate_limit"]["available"] is True and "left_today" in body["zoho"]["rate_limit"]
    assert body["webhook_refusals"]["counts"]["unauthorized"] == before + 1


def test_the_page_without_a_token_is_a_401_login_form(client):
    r = client.get("/dashboard")
    assert r.status_code == 401 and b'name="admin_token"' in r.data and b"<form" in r.data
    r = client.get("/dashboard?admin_token=wrong")
    assert r.status_code == 401 and "set-cookie" not in {k.lower() for k, _ in r.headers}


def test_a_token_in_the_url_no_longer_signs_in(client):
    """Issue 14: `?admin_token=` reached the access log; only the POST form signs in now."""
    r = client.get(f"/dashboard?admin_token={TEST_ADMIN_TOKEN}")
    assert r.status_code == 401 and "set-cookie" not in {k.lower() for k, _ in r.headers}


def test_the_login_form_sets_an_opaque_session_cookie_and_sign_out_revokes_it(client):
    assert client.post("/dashboard/login", data={"admin_token": "nope"}).status_code == 401
    r = client.post("/dashboard/login", data={"admin_token": TEST_ADMIN_TOKEN})
    assert r.status_code == 303 and r.headers["Location"] == "/dashboard"
    cookie = r.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert TEST_ADMIN_TOKEN not in cookie
    page = client.get("/dashboard")
    assert page.status_code == 200 and b'id="overall-status"' in page.data
    assert client.get(f"{API}/stats").status_code == 200  # the cookie also carries the page's JSON calls
    session = client.get_cookie("zohosync_session").value
    client.post("/dashboard/logout", headers={"Origin": "http://localhost"})
    assert client.get("/dashboard").status_code == 401
    client.set_cookie("zohosync_session", session)  # a copy of the cookie is revoked too
    assert client.get("/dashboard").status_code == 401


def test_the_page_shows_the_database_numbers_escapes_outside_text_and_leaks_no_secret(client, db):
    seed(db, 7, "pending", "products")
    seed(db, 3, "failed", "customers", error="<script>alert('x')</script> Zoho said <b>no</b>")
    seed_dead_letters(db, 2, error="<img src=x onerror=alert(1)>")
    r = client.get("/dashboard", headers=AUTH)
    html = r.data.decode()
    assert r.status_code == 200
    assert 'id="count-pending">7<' in html and 'id="count-failed">3<' in html
    assert 'id="count-dead-letters">2<' in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert TEST_ADMIN_TOKEN not in html and TEST_WEBHOOK_SECRET not in html
    csp = r.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'nonce-" in csp and "frame-ancestors 'none'" in csp
    assert html.count('class="btn retry"') == 2
    assert ":5555" in html  # the Flower link


def test_no_json_answer_carries_a_secret(client, db):
    seed(db, 2, "failed", "products", error="boom")
    for url in JSON_ENDPOINTS:
        body = client.get(url, headers=AUTH).get_data(as_text=True)
        assert TEST_ADMIN_TOKEN not in body and TEST_WEBHOOK_SECRET not in body, url

"""Operator authentication (issue 14): the bearer header only, dashboard sessions, CSRF, JSON bodies."""
from __future__ import annotations

import pytest

from tests.conftest import TEST_ADMIN_TOKEN

AUTH = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
ORIGIN = {"Origin": "http://localhost"}
STATE_CHANGES = [("/api/zoho/admin/queue/clear", {}), ("/api/zoho/admin/queue/retry", {"all": True}),
                 ("/api/zoho/bulk-sync/sync-all", {}), ("/api/zoho/bulk-sync/products", {})]


def signed_in(client):
    r = client.post("/dashboard/login", data={"admin_token": TEST_ADMIN_TOKEN}, headers=ORIGIN)
    assert r.status_code == 303
    return client


@pytest.mark.parametrize("url", ["/api/zoho/dashboard/stats", "/api/zoho/bulk-sync/status"])
@pytest.mark.parametrize("where", ["query", "X-Admin-Token", "cookie"])
def test_the_admin_token_is_accepted_only_in_the_authorization_header(client, url, where):
    if where == "query":
        r = client.get(url, query_string={"admin_token": TEST_ADMIN_TOKEN})
    elif where == "X-Admin-Token":
        r = client.get(url, headers={"X-Admin-Token": TEST_ADMIN_TOKEN})
    else:
        client.set_cookie("admin_token", TEST_ADMIN_TOKEN)
        r = client.get(url)
    assert r.status_code == 401
    assert client.get(url, headers=AUTH).status_code == 200


def test_a_made_up_session_cookie_is_refused(client):
    client.set_cookie("zohosync_session", "x" * 43)
    assert client.get("/api/zoho/dashboard/stats").status_code == 401


@pytest.mark.parametrize("url, body", STATE_CHANGES)
@pytest.mark.parametrize("origin", [None, "https://evil.example", "null"])
def test_a_cross_site_state_change_with_the_session_cookie_is_403(client, db, url, body, origin):
    signed_in(client)
    headers = {"Origin": origin} if origin else {}
    r = client.post(url, json=body, headers=headers)
    assert r.status_code == 403 and r.json["error"] == "cross_origin"


def test_a_same_origin_state_change_with_the_session_cookie_is_allowed(client, db):
    signed_in(client)
    r = client.post("/api/zoho/admin/queue/clear", json={"older_than_days": 30}, headers=ORIGIN)
    assert r.status_code == 200, r.json


def test_the_bearer_token_needs_no_origin(client, db):
    assert client.post("/api/zoho/admin/queue/clear", json={}, headers=AUTH).status_code == 200


def test_sign_out_from_another_site_is_refused(client):
    signed_in(client)
    assert client.post("/dashboard/logout", headers={"Origin": "https://evil.example"}).status_code == 403
    assert client.get("/dashboard").status_code == 200


@pytest.mark.parametrize("url, body", STATE_CHANGES)
def test_state_changes_take_parameters_from_a_json_body_not_the_query(client, db, url, body):
    r = client.post(url, query_string={"older_than_days": "0", "full": "true"}, json=body, headers=AUTH)
    assert r.status_code == 422 and "JSON" in r.json["message"]


@pytest.mark.parametrize("url", ["/api/zoho/admin/queue/clear", "/api/zoho/bulk-sync/sync-all"])
def test_a_form_body_is_not_a_parameter_source(client, db, url):
    r = client.post(url, data={"older_than_days": "0", "full": "true"}, headers=AUTH)
    assert r.status_code == 422


@pytest.mark.parametrize("days", [1e999, True, 1.5, "1e999"])
def test_clear_refuses_days_that_are_not_whole_numbers(client, db, days):
    import json

    body = json.dumps({"older_than_days": days}) if days != 1e999 else '{"older_than_days": 1e999}'
    r = client.post("/api/zoho/admin/queue/clear", data=body, content_type="application/json", headers=AUTH)
    assert r.status_code == 422

"""Zoho's API limits as the sandbox enforces them: per-minute window with Retry-After, daily budget, injected 500s."""

from __future__ import annotations

from tests.zoho_sandbox.conftest import Zoho


def test_calls_past_the_per_minute_limit_get_429_with_retry_after(zoho: Zoho) -> None:
    zoho.configure(rate_limit=5)
    zoho.login()
    for _ in range(5):
        assert zoho.get("/books/v3/contacts", {"per_page": 1}).status_code == 200
    response = zoho.get("/books/v3/contacts", {"per_page": 1})
    assert response.status_code == 429
    assert response.json()["code"] == 45
    retry_after = response.headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    stats = zoho.stats()
    assert stats["api_calls"] == 5 and stats["rate_limited"] == 1


def test_rate_limit_headers_count_down(zoho: Zoho) -> None:
    zoho.configure(rate_limit=50, daily_limit=1000)
    first = zoho.get("/books/v3/contacts", {"per_page": 1})
    second = zoho.get("/books/v3/contacts", {"per_page": 1})
    assert first.headers["X-Rate-Limit-Limit"] == "1000"
    assert int(first.headers["X-Rate-Limit-Remaining"]) == int(second.headers["X-Rate-Limit-Remaining"]) + 1
    assert int(first.headers["X-Rate-Limit-Minute-Remaining"]) == 49


def test_only_authenticated_api_calls_count_towards_the_limit(zoho: Zoho) -> None:
    zoho.configure(rate_limit=3)
    token = zoho.login()
    for _ in range(5):
        zoho.get("/books/v3/contacts", auth="Zoho-oauthtoken wrong")  # 401: not counted
        zoho.stats()  # control endpoints: not counted
        zoho.refresh()  # OAuth: not counted (and refreshes stay under 10)
    for _ in range(3):
        assert zoho.get("/books/v3/contacts", {"per_page": 1}, token=token).status_code == 200
    assert zoho.get("/books/v3/contacts", token=token).status_code == 429
    stats = zoho.stats()
    assert stats["api_calls"] == 3
    assert stats["api_calls_by_path"] == {"/books/v3/contacts": 3}


def test_calls_are_counted_per_path_template(zoho: Zoho) -> None:
    rows = zoho.ok("/books/v3/invoices", {"per_page": 3})["invoices"]
    for row in rows:
        zoho.ok(f"/books/v3/invoices/{row['invoice_id']}")
    assert zoho.stats()["api_calls_by_path"] == {"/books/v3/invoices": 1, "/books/v3/invoices/{id}": 3}


def test_daily_limit_gives_429_code_45_for_the_day(zoho: Zoho) -> None:
    zoho.configure(daily_limit=3, rate_limit=100)
    for _ in range(3):
        assert zoho.get("/inventory/v1/items", {"per_page": 1}).status_code == 200
    response = zoho.get("/inventory/v1/items", {"per_page": 1})
    assert response.status_code == 429
    assert response.json() == {"code": 45, "message": "You have reached the maximum number of API calls for the day."}
    assert int(response.headers["Retry-After"]) >= 1
    assert zoho.stats()["rate_limited_daily"] == 1
    zoho.control("POST", "/reset", json={})  # a reset zeroes the budget
    assert zoho.get("/inventory/v1/items", {"per_page": 1}).status_code == 200


def test_fail_rate_answers_500_internal_error(zoho: Zoho) -> None:
    zoho.configure(fail_rate=1.0)
    response = zoho.get("/books/v3/invoices")
    assert response.status_code == 500
    assert response.json() == {"code": 1000, "message": "Internal error"}
    zoho.configure(fail_rate=0.5)
    statuses = [zoho.get("/books/v3/invoices", {"per_page": 1}).status_code for _ in range(40)]
    assert set(statuses) == {200, 500}
    stats = zoho.stats()
    assert stats["injected_failures"] == 1 + statuses.count(500)
    assert stats["api_calls"] == 41  # failed calls still use quota, as at Zoho


def test_latency_and_config_validation(zoho: Zoho) -> None:
    config = zoho.configure(latency_ms=20)
    assert config["latency_ms"] == 20 and "webhook_secret" not in config
    assert zoho.get("/books/v3/contacts", {"per_page": 1}).status_code == 200
    assert zoho.control("POST", "/config", json={"fail_rate": 2}).status_code == 400
    assert zoho.control("POST", "/config", json={"no_such_thing": 1}).status_code == 400
    assert zoho.control("GET", "/config").json()["latency_ms"] == 20


def test_reset_restores_start_up_settings(zoho: Zoho) -> None:
    zoho.configure(rate_limit=1, fail_rate=1.0)
    zoho.control("POST", "/reset", json={})
    config = zoho.control("GET", "/config").json()
    assert config["rate_limit"] == 100 and config["fail_rate"] == 0.0
    zoho.configure(rate_limit=7)
    zoho.control("POST", "/reset", json={"keep_config": True})
    assert zoho.control("GET", "/config").json()["rate_limit"] == 7

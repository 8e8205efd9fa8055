"""The API client against the sandbox over real HTTP: envelopes, paging, filters, details, images, errors, retries, budget."""
from __future__ import annotations

import logging
import socket
import threading

import pytest

from models.settings import reset_settings
from tests.zoho.client.conftest import CLIENT_SECRET, REFRESH_TOKEN, Sandbox
from zoho.client import ZohoClient, format_since
from zoho.entities import ApiSource, get_entity
from zoho.errors import AuthError, NotFound, PermanentError, RateLimited, TransientError
from zoho.fields import to_datetime
from zoho.oauth import TokenManager
from zoho.ratelimit import RateLimiter

ITEMS = ApiSource("inventory", "/items", "items", "item", sortable=True)
INVOICES = ApiSource("books", "/invoices", "invoices", "invoice", detail=True)
INVENTORY_BILLS = ApiSource("inventory", "/bills", "bills", "bill", detail=True, filters_honoured=False)
MISSING_ID = "2646610000999999999"


def fast_client(**kw) -> ZohoClient:
    """Same code path, shorter sleeps: backoff starts at 10 ms."""
    kw.setdefault("backoff_base", 0.01)
    return ZohoClient(**kw)


def median_time(rows: list[dict]) -> object:
    times = sorted(to_datetime(r["last_modified_time"]) for r in rows)
    return times[len(times) // 2]


def test_get_carries_token_and_organization_and_returns_the_checked_envelope(sandbox: Sandbox) -> None:
    client = fast_client()
    body = client.get("inventory", "/items", {"per_page": 5})
    assert body["code"] == 0 and len(body["items"]) == 5
    assert client.calls_made == 1
    stats = sandbox.stats()
    assert stats["api_calls"] == 1 and stats["token_refreshes"] == 1


def test_iter_pages_reads_every_page_of_200(sandbox: Sandbox) -> None:
    source = get_entity("products").sources[0]
    client = fast_client()
    pages = list(client.iter_pages(source))
    expected = {r["item_id"] for r in sandbox.records("products")}
    assert [n for n, _, _ in pages] == list(range(1, len(pages) + 1))
    assert len(pages) == -(-len(expected) // 200) > 1
    assert all(ctx["per_page"] == 200 for _, _, ctx in pages)
    assert [ctx["has_more_page"] for _, _, ctx in pages] == [True] * (len(pages) - 1) + [False]
    assert [r["item_id"] for _, rows, _ in pages for r in rows] and \
        {r["item_id"] for _, rows, _ in pages for r in rows} == expected
    assert client.calls_made == len(pages) == sandbox.stats()["api_calls"]


def test_since_asks_zoho_for_newer_rows_oldest_first(sandbox: Sandbox) -> None:
    records = sandbox.records("products")
    since = median_time(records)
    rows = [r for _, page, _ in fast_client().iter_pages(ITEMS, since=since) for r in page]
    expected = {r["item_id"] for r in records if to_datetime(r["last_modified_time"]) >= since}
    assert {r["item_id"] for r in rows} == expected and len(rows) == len(expected)
    times = [to_datetime(r["last_modified_time"]) for r in rows]
    assert times == sorted(times)
    assert sandbox.stats()["api_calls"] == -(-len(expected) // 200)


def test_inventory_bills_ignore_the_filter_so_the_client_filters_locally(sandbox: Sandbox) -> None:
    records = sandbox.records("bills")
    since = median_time(records)
    client = fast_client()
    pages = list(client.iter_pages(INVENTORY_BILLS, since=since, extra_params={"per_page": 7}))
    rows = [r for _, page, _ in pages for r in page]
    expected = {r["bill_id"] for r in records if to_datetime(r["last_modified_time"]) >= since}
    assert 0 < len(expected) < len(records)
    assert {r["bill_id"] for r in rows} == expected and len(rows) == len(expected)
    assert client.calls_made == len(pages) == -(-len(records) // 7)  # Zoho sent every bill


def test_format_since_is_zohos_offset_without_colon() -> None:
    assert format_since(to_datetime("2025-11-04T21:52:12+03:00")) == "2025-11-04T21:52:12+0300"
    assert format_since(to_datetime("2025-11-04 18:52:12")) == "2025-11-04T18:52:12+0000"


def test_get_record_returns_the_detail_with_line_items(sandbox: Sandbox) -> None:
    client = fast_client()
    (_, rows, _), *_ = client.iter_pages(INVOICES, extra_params={"per_page": 3})
    assert rows and "line_items" not in rows[0]
    invoice = client.get_record(INVOICES, rows[0]["invoice_id"])
    assert invoice["invoice_id"] == rows[0]["invoice_id"] and invoice["line_items"]
    with pytest.raises(NotFound) as e:
        client.get_record(INVOICES, MISSING_ID)
    assert e.value.zoho_code == 1002 and e.value.http_status == 404


def test_item_images_are_bytes_with_their_type_or_none(sandbox: Sandbox) -> None:
    items = sandbox.records("products")
    with_image = next(i for i in items if i["image_name"])
    without = next(i for i in items if not i["image_name"])
    client = fast_client()
    data, content_type = client.get_item_image(with_image["item_id"])
    assert content_type in ("image/png", "image/jpeg") and len(data) > 100
    assert client.get_item_image(without["item_id"]) is None
    assert client.get_item_image(MISSING_ID) is None
    assert client.calls_made == 3


def test_other_4xx_are_permanent_and_not_retried(sandbox: Sandbox, monkeypatch) -> None:
    client = fast_client()
    with pytest.raises(PermanentError) as e:
        client.get("books", "/no-such-module")
    assert type(e.value) is PermanentError and e.value.http_status == 404 and e.value.zoho_code == 5
    monkeypatch.setenv("ZOHO_ORGANIZATION_ID", "111111111")
    reset_settings()
    with pytest.raises(PermanentError) as e:
        client.get("books", "/invoices")
    assert type(e.value) is PermanentError and e.value.zoho_code == 6041
    assert client.calls_made == 2


def test_a_401_refreshes_the_token_once_and_retries(sandbox: Sandbox) -> None:
    client = fast_client()
    client.get("books", "/contacts", {"per_page": 1})
    assert sandbox.expire_tokens() >= 1  # Zoho revoked or expired it early
    assert client.get("books", "/contacts", {"per_page": 1})["contacts"]
    assert client.calls_made == 3
    assert sandbox.stats()["token_refreshes"] == 2


def test_a_401_after_the_refresh_is_an_auth_error_not_a_loop(sandbox: Sandbox) -> None:
    sandbox.configure(token_ttl=0)  # every token is dead on arrival, like a missing scope
    client = fast_client()
    with pytest.raises(AuthError) as e:
        client.get("books", "/contacts")
    assert type(e.value) is AuthError and (e.value.http_status, e.value.zoho_code) == (401, 57)
    assert client.calls_made == 2
    with pytest.raises(AuthError):
        client.get("books", "/contacts")  # a forced refresh just happened: no second one
    assert sandbox.stats()["token_refreshes"] == 2


def test_5xx_are_retried_with_backoff_until_they_pass(sandbox: Sandbox) -> None:
    sandbox.configure(fail_rate=0.3)
    client = fast_client()
    for _ in range(15):
        assert client.get("books", "/contacts", {"per_page": 1})["code"] == 0
    stats = sandbox.stats()
    assert stats["injected_failures"] > 0
    assert client.calls_made == stats["api_calls"] == 15 + stats["injected_failures"]


def test_persistent_5xx_become_a_transient_error_after_a_bounded_number_of_attempts(sandbox: Sandbox) -> None:
    sandbox.configure(fail_rate=1.0)
    client = fast_client(max_attempts=4)
    with pytest.raises(TransientError) as e:
        client.get("books", "/contacts")
    assert type(e.value) is TransientError and e.value.zoho_code == 1000
    assert client.calls_made == sandbox.stats()["api_calls"] == 4


def test_timeouts_and_refused_connections_are_transient(sandbox: Sandbox, monkeypatch) -> None:
    sandbox.configure(latency_ms=800)
    client = fast_client(max_attempts=2, timeout=(5, 0.2))
    with pytest.raises(TransientError) as e:
        client.get("books", "/contacts")
    assert "timed out" in str(e.value) and client.calls_made == 2
    sandbox.configure(latency_ms=0)
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    monkeypatch.setenv("ZOHO_API_BASE_URL", f"http://127.0.0.1:{dead}")
    reset_settings()
    client = fast_client(max_attempts=3)
    with pytest.raises(TransientError) as e:
        client.get("books", "/contacts")
    assert "ConnectionError" in str(e.value) and client.calls_made == 3


def test_a_zoho_429_raises_with_retry_after_and_holds_every_worker(sandbox: Sandbox) -> None:
    sandbox.configure(rate_limit=3)  # Zoho is stricter than our own limiter believes
    client = fast_client()
    for _ in range(3):
        client.get("books", "/contacts", {"per_page": 1})
    with pytest.raises(RateLimited) as e:
        client.get("books", "/contacts", {"per_page": 1})
    # Zoho's Retry-After (the rest of its minute) is longer than a task may wait: raised, not slept
    assert 30 < e.value.retry_after <= 60 and e.value.zoho_code == 45
    assert RateLimiter().budget_status()["paused_for"] > 30
    with pytest.raises(RateLimited):
        fast_client().get("books", "/contacts")  # another worker does not even try
    stats = sandbox.stats()
    assert stats["rate_limited"] == 1 and stats["api_calls"] == 3


def test_backoff_grows_exponentially_with_jitter_and_honours_retry_after() -> None:
    client = ZohoClient(tokens=TokenManager(), limiter=RateLimiter(), backoff_base=0.5, backoff_cap=8)
    for attempt, top in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 8.0)):
        delays = [client._backoff(attempt, None) for _ in range(50)]
        assert all(top / 2 <= d <= top for d in delays) and len(set(delays)) > 1
    assert all(client._backoff(1, 3.0) >= 3.0 for _ in range(20))


def test_the_shared_limiter_keeps_the_fleet_under_zohos_limit(sandbox: Sandbox, monkeypatch) -> None:
    sandbox.configure(rate_limit=5)
    monkeypatch.setenv("ZOHO_RATE_LIMIT_PER_MINUTE", "5")
    reset_settings()
    outcomes: list[str] = []

    def worker() -> None:
        client = fast_client(acquire_timeout=0.5)
        for _ in range(3):
            try:
                client.get("books", "/contacts", {"per_page": 1})
                outcomes.append("ok")
            except RateLimited:
                outcomes.append("limited")

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["limited"] * 7 + ["ok"] * 5
    stats = sandbox.stats()
    assert stats["api_calls"] == 5 and stats["rate_limited"] == 0  # Zoho never had to say no


def test_a_spent_daily_budget_stops_calls_before_they_leave(sandbox: Sandbox) -> None:
    client = fast_client(limiter=RateLimiter(daily_budget=3))
    for _ in range(3):
        client.get("books", "/contacts", {"per_page": 1})
    with pytest.raises(RateLimited) as e:
        client.get("books", "/contacts")
    assert e.value.retry_after > 0
    assert sandbox.stats()["api_calls"] == 3 and client.calls_made == 3


def test_no_secret_reaches_an_error_message_or_a_log_line(sandbox: Sandbox, monkeypatch, caplog, redis_client) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[Exception] = []
    tokens: set[str] = set()

    def expect(exc_type: type[Exception], fn) -> None:
        with pytest.raises(exc_type) as e:
            fn()
        errors.append(e.value)

    client = fast_client()
    tokens.add(client.tokens.get_token())
    expect(NotFound, lambda: client.get_record(INVOICES, MISSING_ID))
    expect(PermanentError, lambda: client.get("books", "/no-such-module"))
    sandbox.configure(fail_rate=1.0)
    expect(TransientError, lambda: client.get("books", "/contacts"))
    sandbox.configure(fail_rate=0.0, rate_limit=1)
    expect(RateLimited, lambda: [client.get("books", "/contacts") for _ in range(2)])
    sandbox.configure(rate_limit=100, token_ttl=0)
    redis_client.flushdb()  # forget the pause and the token
    expect(AuthError, lambda: client.get("books", "/contacts"))
    tokens.update(t.decode() for k in redis_client.keys("zohosync:oauth:*:token")
                  for t in [redis_client.hget(k, "access_token")] if t)
    for _ in range(10):
        sandbox.mint_token()
    redis_client.flushdb()
    expect(RateLimited, lambda: TokenManager().get_token())  # Zoho: too many refreshes
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", "1000.a-revoked-refresh-token-value")
    reset_settings()
    expect(AuthError, lambda: TokenManager().get_token())

    secrets = {CLIENT_SECRET, REFRESH_TOKEN, "1000.a-revoked-refresh-token-value", *tokens}
    assert len(tokens) >= 2
    classes = {type(e) for e in errors}
    assert {NotFound, PermanentError, TransientError, RateLimited, AuthError} <= classes
    logged = caplog.text + "".join(repr(vars(r)) for r in caplog.records)
    assert "zoho call failed" in logged and "refused" in logged  # the failures were logged...
    for secret in secrets:  # ...without a secret
        assert secret not in logged
        for e in errors:
            assert secret not in str(e) and secret not in repr(e) and secret not in repr(vars(e))

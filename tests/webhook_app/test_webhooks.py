"""The receiver as docs/reference.md#endpoints documents it: every status code, both auth schemes, commit before 2xx."""
from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from models.db import reset_engine
from models.settings import reset_settings
from tests.support.webhooks import body_of, item, sign, signed_post

URL = "/api/zoho/webhooks/products"
BOUND = {"entity": "products"}
"""The signed query parameter that binds a shared-secret webhook to its entity (docs/security.md)."""


def _events(db):
    with db.connect() as c:
        return c.execute(text("SELECT id, entity_type, entity_id, operation, status, payload FROM tds_sync_queue "
                              "ORDER BY id")).all()


def _queued_event_ids(redis_client, queue="sync.products"):
    ids = []
    for raw in redis_client.lrange(queue, 0, -1):
        msg = json.loads(raw)
        body = json.loads(__import__("base64").b64decode(msg["body"]))
        ids.append(body[0][0])
    return ids


def test_signed_json_webhook_is_committed_then_answered_202_and_published(client, db, redis_client):
    r = signed_post(client, URL, "item", item())
    assert r.status_code == 202
    assert r.json["status"] == "queued"
    rows = _events(db)
    assert len(rows) == 1 and rows[0].id == r.json["event_id"]
    assert (rows[0].entity_type, rows[0].entity_id, rows[0].operation, rows[0].status) == (
        "products", "2646610000000113826", "upsert", "pending")
    assert rows[0].payload["item"]["name"] == "Bags-small"
    assert _queued_event_ids(redis_client) == [r.json["event_id"]]


def test_base64_signature_is_accepted(client):
    body = body_of("item", item())
    r = client.post(URL, query_string=BOUND, data=body, content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body, BOUND, encoding="base64")})
    assert r.status_code == 202


@pytest.mark.parametrize("how", ["X-Zoho-Webhook-Token", "X-Webhook-Key", "query"])
def test_shared_token_is_accepted_in_each_documented_place(client, how):
    from tests.conftest import TEST_WEBHOOK_SECRET

    body = body_of("item", item())
    if how == "query":
        r = client.post(URL + "?token=" + TEST_WEBHOOK_SECRET, data=body, content_type="application/json")
    else:
        r = client.post(URL, data=body, content_type="application/json", headers={how: TEST_WEBHOOK_SECRET})
    assert r.status_code == 202


def test_form_encoded_jsonstring_is_signed_over_sorted_params_and_fields(client, db):
    form = {"JSONString": json.dumps({"item": item()})}
    params = {"event": "updated", "source": "zoho", **BOUND}
    sig = sign(None, params=params, form=form)
    r = client.post(URL + "?" + urlencode(params), data=form, headers={"X-Zoho-Webhook-Signature": sig})
    assert r.status_code == 202, r.json
    assert _events(db)[0].payload["item"]["item_id"] == "2646610000000113826"


def test_delete_operation_comes_from_the_signed_query(client, db):
    r = signed_post(client, URL, "item", item(), params={"event": "deleted"})
    assert r.status_code == 202
    assert _events(db)[0].operation == "delete"


@pytest.mark.parametrize("how", ["header", "method"])
def test_a_signed_upsert_replayed_with_an_unsigned_delete_hint_stays_an_upsert(client, db, how):
    """Issue 14: the same signed upsert sent again with `X-Zoho-Event: deleted` or as DELETE deactivated the row."""
    first = signed_post(client, URL, "item", item())
    body = body_of("item", item())
    headers = {"X-Zoho-Webhook-Signature": sign(body, BOUND)}
    if how == "header":
        r = client.post(URL, query_string=BOUND, data=body, content_type="application/json",
                        headers={**headers, "X-Zoho-Event": "deleted"})
    else:
        r = client.delete(URL, query_string=BOUND, data=body, content_type="application/json", headers=headers)
    assert r.status_code == 200 and r.json == {"status": "duplicate", "event_id": first.json["event_id"]}
    assert [e.operation for e in _events(db)] == ["upsert"]


def test_a_signed_upsert_cannot_gain_an_event_parameter_on_replay(client, db):
    body = body_of("item", item())
    r = client.post(URL, query_string={**BOUND, "event": "deleted"}, data=body, content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body, BOUND)})
    assert r.status_code == 401 and _events(db) == []


@pytest.mark.parametrize("how", ["header", "method"])
def test_unsigned_delete_hints_count_only_for_the_token_and_only_when_enabled(client, db, monkeypatch, how):
    from tests.conftest import TEST_WEBHOOK_SECRET

    body = body_of("item", item())
    headers = {"X-Zoho-Webhook-Token": TEST_WEBHOOK_SECRET}

    def send():
        if how == "header":
            return client.post(URL, data=body, content_type="application/json",
                               headers={**headers, "X-Zoho-Event": "deleted"})
        return client.delete(URL, data=body, content_type="application/json", headers=headers)

    assert send().status_code == 202
    monkeypatch.setenv("ZOHO_WEBHOOK_TRUST_UNSIGNED_HINTS", "true")
    reset_settings()
    try:
        assert send().status_code == 202
    finally:
        monkeypatch.undo()
        reset_settings()
    assert [e.operation for e in _events(db)] == ["upsert", "delete"]


def test_a_signed_products_webhook_replayed_to_stock_is_refused(client, db):
    """Issue 14: products and stock both carry `item`; the signed `entity` names the one it was sent to."""
    body = body_of("item", item())
    r = client.post("/api/zoho/webhooks/stock", query_string=BOUND, data=body, content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body, BOUND)})
    assert r.status_code == 401 and r.json["error"] == "wrong_entity"
    assert _events(db) == []


@pytest.mark.parametrize("path", ["/api/zoho/webhooks/stock", "/api/zoho/webhooks/vendors"])
def test_a_shared_secret_signature_that_does_not_name_its_entity_is_refused(client, db, path):
    """A shared key at an entity that is not its default owner needs the signed `entity=` (or its own secret)."""
    key = "contact" if path.endswith("vendors") else "item"
    record = {"contact_id": "460000000026049", "contact_name": "x"} if key == "contact" else item()
    body = body_of(key, record)
    r = client.post(path, data=body, content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body)})
    assert r.status_code == 401 and r.json["error"] == "entity_not_signed"
    assert "entity=" in r.json["message"] and _events(db) == []


@pytest.mark.parametrize(("path", "key", "record"), [
    ("/api/zoho/webhooks/products", "item", item()),
    ("/api/zoho/webhooks/customers", "contact", {"contact_id": "460000000026049", "contact_name": "x",
                                                 "last_modified_time": "2025-11-04T21:52:11+0300"}),
    ("/api/zoho/webhooks/vendors", "contact", {"contact_id": "460000000026050", "contact_name": "y",
                                               "contact_type": "vendor",
                                               "last_modified_time": "2025-11-04T21:52:11+0300"}),
])
def test_zohos_own_unbound_webhook_lands_where_its_route_cannot_change_its_meaning(client, db, path, key, record):
    """Zoho sends no entity: a shared key's default owner, and a contact filed by its own contact_type, land."""
    body = body_of(key, record)
    r = client.post(path, data=body, content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body)})
    assert r.status_code == 202, r.json


def test_a_record_key_only_one_entity_has_binds_it_without_a_parameter(client, db):
    record = {"invoice_id": "982000000567114", "invoice_number": "INV-1", "customer_id": "460000000026049",
              "date": "2025-11-04", "total": 10, "last_modified_time": "2025-11-04T21:52:11+0300"}
    r = signed_post(client, "/api/zoho/webhooks/invoices", "invoice", record, bind=False)
    assert r.status_code == 202, r.json


def test_an_entity_with_its_own_secret_accepts_only_that_secret(client, db, monkeypatch):
    own = "products-only-secret-0123456789"
    monkeypatch.setenv("ZOHO_WEBHOOK_SECRET_PRODUCTS", own)
    reset_settings()
    try:
        body = body_of("item", item())
        shared = client.post(URL, query_string=BOUND, data=body, content_type="application/json",
                             headers={"X-Zoho-Webhook-Signature": sign(body, BOUND)})
        mine = client.post(URL, data=body, content_type="application/json",
                           headers={"X-Zoho-Webhook-Signature": sign(body, secret=own)})
        to_stock = client.post("/api/zoho/webhooks/stock", data=body, content_type="application/json",
                               headers={"X-Zoho-Webhook-Signature": sign(body, secret=own)})
    finally:
        monkeypatch.undo()
        reset_settings()
    assert (shared.status_code, mine.status_code, to_stock.status_code) == (401, 202, 401)


def test_same_event_twice_is_a_200_duplicate_with_the_first_event_id(client, db, redis_client):
    first = signed_post(client, URL, "item", item())
    again = signed_post(client, URL, "item", item())
    assert again.status_code == 200
    assert again.json == {"status": "duplicate", "event_id": first.json["event_id"]}
    assert len(_events(db)) == 1
    assert len(_queued_event_ids(redis_client)) == 1


def test_a_newer_version_of_the_same_record_is_a_new_event(client, db):
    signed_post(client, URL, "item", item())
    r = signed_post(client, URL, "item", item(lmt="2025-11-04T21:59:00+0300", rate=7))
    assert r.status_code == 202
    assert len(_events(db)) == 2


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Zoho-Webhook-Signature": "0" * 64}, {"X-Zoho-Webhook-Signature": "not-a-signature"},
     {"X-Zoho-Webhook-Token": "wrong"}, {"X-Webhook-Key": ""}],
)
def test_missing_or_bad_authentication_is_401_and_records_nothing(client, db, headers):
    r = client.post(URL, data=body_of("item", item()), content_type="application/json", headers=headers)
    assert r.status_code == 401
    assert r.is_json and r.json["error"] == "unauthorized"
    assert _events(db) == []


def test_signature_over_a_tampered_body_is_401(client, db):
    body = body_of("item", item())
    r = client.post(URL, data=body.replace(b"Bags", b"Bugs"), content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body)})
    assert r.status_code == 401 and _events(db) == []


def test_every_webhook_is_refused_while_no_secret_is_configured(client, db, monkeypatch):
    monkeypatch.delenv("ZOHO_WEBHOOK_SECRET")
    reset_settings()
    try:
        r = signed_post(client, URL, "item", item())
        assert r.status_code == 401
    finally:
        monkeypatch.undo()
        reset_settings()
    assert _events(db) == []


def test_unknown_entity_is_404_json(client):
    r = signed_post(client, "/api/zoho/webhooks/unicorns", "item", item())
    assert r.status_code == 404 and r.is_json


@pytest.mark.parametrize("body", [b"", b"not json", b"{\"item\": ", b"\xff\xfe"])
def test_malformed_body_is_400(client, db, body):
    r = client.post(URL, data=body, content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body)})
    assert r.status_code == 400 and r.is_json
    assert _events(db) == []


def test_form_without_jsonstring_is_400(client):
    form = {"other": "x"}
    r = client.post(URL, data=form, headers={"X-Zoho-Webhook-Signature": sign(None, form=form)})
    assert r.status_code == 400


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"items": [item()]}, "item"),
        ({"item": {"name": "no id"}}, "item_id"),
        ({"item": item(lmt="yesterday-ish")}, "last_modified_time"),
        ({"item": item(item_id={"nested": 1})}, "item_id"),
        ({"item": item(item_id="abc")}, "item_id"),  # Zoho ids are digit strings
        (["item"], "item"),
    ],
)
def test_json_that_is_not_a_valid_record_is_422_with_field_errors(client, db, payload, field):
    body = json.dumps(payload).encode()
    r = client.post(URL, query_string=BOUND, data=body, content_type="application/json",
                    headers={"X-Zoho-Webhook-Signature": sign(body, BOUND)})
    assert r.status_code == 422, r.json
    assert field in json.dumps(r.json["errors"])
    assert _events(db) == []


def test_body_over_one_mebibyte_is_413_before_parsing(client, db):
    body = body_of("item", item(description="x" * (1024 * 1024)))
    r = client.post(URL, data=body, content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body)})
    assert r.status_code == 413 and r.is_json
    assert _events(db) == []


def test_database_unreachable_is_503_and_nothing_is_recorded(client, db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/zohosync")
    reset_settings()
    reset_engine()
    try:
        r = signed_post(client, URL, "item", item())
        assert r.status_code == 503 and r.is_json
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert _events(db) == []
    assert signed_post(client, URL, "item", item()).status_code == 202  # recovers without a restart


def test_broker_unreachable_still_answers_202_and_leaves_the_event_pending(client, db, monkeypatch):
    import tasks

    def fresh_pools():
        tasks.app._pool = None
        tasks.app.amqp._producer_pool = None

    good = tasks.app.conf.broker_url
    tasks.app.conf.broker_url = "redis://127.0.0.1:1/0"
    fresh_pools()
    try:
        r = signed_post(client, URL, "item", item())
    finally:
        tasks.app.conf.broker_url = good
        fresh_pools()
    assert r.status_code == 202
    rows = _events(db)
    assert [(x.id, x.status) for x in rows] == [(r.json["event_id"], "pending")]


def test_healthz_answers_200(client):
    assert client.get("/healthz").status_code == 200


@pytest.mark.parametrize("record", [{"item_id": "\x00"}, {"item_id": "1", "name": "a\x00b"},
                                    {"item_id": "1", "custom_fields": [{"label": "x", "value": "\x00"}]},
                                    {"item_id": "1", "k\x00": "v"}])
def test_a_nul_character_anywhere_is_refused_with_422_naming_the_field_and_nothing_is_recorded(client, db, record):
    from tests.support.webhooks import signed_post

    r = signed_post(client, URL, "item", record)
    assert r.status_code == 422, r.json
    assert r.json["error"] == "invalid" and "NUL" in r.json["message"]
    assert list(r.json["errors"])[0].startswith("item")
    assert _events(db) == []


def test_an_unauthenticated_form_body_is_refused_before_it_is_parsed(client, db):
    """Issue 14: the form was parsed (and its errors answered) before anyone was authenticated."""
    r = client.post(URL, data=b"JSONString=%ff%fe&" + b"x=1&" * 5000,
                    content_type="application/x-www-form-urlencoded")
    assert r.status_code == 401 and r.json["error"] == "unauthorized"
    assert _events(db) == []


@pytest.mark.parametrize("entity", ["pro\nducts", "x\r\n12:00:00 INFO forged"])
def test_an_entity_name_with_control_characters_is_escaped_in_the_answer_and_the_log(client, caplog, entity):
    from urllib.parse import quote

    r = client.post("/api/zoho/webhooks/" + quote(entity), data=b"{}", content_type="application/json")
    assert r.status_code == 404 and "\n" not in r.json["message"]
    assert all("\n" not in str(getattr(rec, "entity", "")) for rec in caplog.records)

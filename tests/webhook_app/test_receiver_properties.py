"""Property: whatever arrives, the receiver never answers 5xx and an unauthenticated request records nothing.

The strategies reach the classes issue 14 found: non-finite numbers (`NaN`, `Infinity`, `1e999`),
nesting past the recursion limit, lone surrogates, huge arrays of bad values, unsigned hints.
"""
from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from tests.support.webhooks import sign
from webhook_app import create_app
from zoho.entities import entity_names

ENTITIES = st.sampled_from(entity_names() + ["unknown", "", "products/../admin", "%00"])
HEADER_NAMES = st.sampled_from(["X-Zoho-Webhook-Signature", "X-Zoho-Webhook-Token", "X-Webhook-Key",
                                "X-Zoho-Event", "Content-Type", "Authorization"])
HEADER_VALUES = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=80)
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)
    | st.text(alphabet=st.characters(categories=["Cs"]), min_size=1, max_size=2),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
    max_leaves=20,
)
RECORDISH = st.fixed_dictionaries(
    {"item_id": st.one_of(st.text(max_size=25), st.integers(), st.none(), JSONISH)},
    optional={"rate": JSONISH, "last_modified_time": JSONISH, "name": JSONISH, "locations": JSONISH},
)


@pytest.fixture(scope="module")
def app_client(database_url):
    return create_app().test_client()


def _rows(engine):
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM tds_sync_queue")).scalar()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(entity=ENTITIES, body=st.binary(max_size=2000), headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4),
       method=st.sampled_from(["POST", "PUT", "DELETE"]))
def test_arbitrary_unauthenticated_requests_never_500_and_never_record(app_client, db, entity, body, headers, method):
    before = _rows(db)
    r = app_client.open(f"/api/zoho/webhooks/{entity}", method=method, data=body, headers=headers)
    assert r.status_code in (400, 401, 404, 405, 413, 422), r.status_code
    assert r.is_json
    assert _rows(db) == before


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(JSONISH, st.fixed_dictionaries({"item": RECORDISH}), st.fixed_dictionaries({"item": JSONISH})),
       params=st.dictionaries(st.sampled_from(["event", "source", "x"]), st.text(max_size=10), max_size=2))
def test_signed_arbitrary_json_is_either_recorded_or_refused_with_4xx(app_client, db, payload, params):
    body = json.dumps(payload).encode()
    params = {**params, "entity": "products"}
    before = _rows(db)
    r = app_client.post("/api/zoho/webhooks/products", query_string=params, data=body,
                        content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body, params)})
    # 400: a lone surrogate is no valid text; 422: not a valid record (NaN and Infinity included)
    assert r.status_code in (200, 202, 400, 422), (r.status_code, r.json)
    assert r.is_json
    assert _rows(db) == before + (1 if r.status_code == 202 else 0)


def _nested(depth: int) -> bytes:
    """`{"item": {"item_id": "1", "rate": [[[…1…]]]}}` as bytes (an object that deep would break test printing)."""
    return b'{"item": {"item_id": "1", "rate": ' + b"[" * depth + b"1" + b"]" * depth + b"}}"


ODD_ARRAYS = st.builds(lambda n, v: json.dumps({"item": {"item_id": "1", "rate": [v] * n}}).encode(),
                       st.integers(1, 60_000), st.sampled_from(["abc", {"x": 1}, [], None]))
"""A field of an unexpected shape: kept in `raw` and landed (issue 13), or 413 when the body is too big."""

HOSTILE = st.one_of(
    st.builds(_nested, st.integers(65, 3000)),  # deeper than webhooks.MAX_DEPTH
    st.builds(lambda v: json.dumps({"item": {"item_id": "2646610000000113826", "rate": v,
                                             "last_modified_time": "2025-11-04T21:52:11+0300"}}).encode(),
              st.sampled_from([float("nan"), float("inf"), -float("inf")])),
    st.builds(lambda t: json.dumps({"item": {"item_id": "1", "name": t}}).encode(),
              st.builds(lambda a, c, b: a + c + b, st.text(max_size=3), st.characters(categories=["Cs"]),
                        st.text(max_size=3))),  # one lone surrogate (a valid pair is valid text)
)
RAW_NUMBERS = st.sampled_from([b"1e999", b"-1e999", b"NaN", b"Infinity", b"-Infinity", b"1e400"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=HOSTILE)
def test_signed_hostile_json_is_refused_with_a_short_4xx(app_client, db, body):
    # NaN/Infinity come as JSON's non-standard literals, surrogates as backslash-u escapes
    params = {"entity": "products"}
    before = _rows(db)
    r = app_client.post("/api/zoho/webhooks/products", query_string=params, data=body,
                        content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body, params)})
    assert r.status_code in (400, 413, 422), (r.status_code, r.data[:300])
    assert r.is_json and len(r.data) < 16_384, len(r.data)  # error lists are capped
    assert _rows(db) == before


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow, HealthCheck.data_too_large])
@given(body=ODD_ARRAYS)
def test_an_odd_shaped_field_of_any_size_lands_or_is_refused_short_never_5xx(app_client, db, body):
    params = {"entity": "products"}
    before = _rows(db)
    r = app_client.post("/api/zoho/webhooks/products", query_string=params, data=body,
                        content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body, params)})
    assert r.status_code in (200, 202, 413), (r.status_code, r.data[:300])
    assert r.is_json and len(r.data) < 16_384, len(r.data)
    assert _rows(db) == before + (1 if r.status_code == 202 else 0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(number=RAW_NUMBERS, field=st.sampled_from(["rate", "purchase_rate", "stock_on_hand"]))
def test_a_non_finite_number_is_a_422_naming_its_field(app_client, db, number, field):
    body = (b'{"item": {"item_id": "2646610000000113826", "last_modified_time": "2025-11-04T21:52:11+0300", "'
            + field.encode() + b'": ' + number + b"}}")
    params = {"entity": "products"}
    r = app_client.post("/api/zoho/webhooks/products", query_string=params, data=body,
                        content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body, params)})
    assert r.status_code == 422, (r.status_code, r.json)
    assert field in json.dumps(r.json["errors"])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(hint=st.sampled_from(["header", "method"]), event=st.sampled_from(["deleted", "delete", "removed", "DELETED"]))
def test_an_unsigned_delete_hint_never_turns_a_signed_upsert_into_a_delete(app_client, db, hint, event):
    from tests.support.webhooks import item

    record = item(item_id="2646610000000999999", lmt="2025-11-05T10:00:00+0300")
    body = json.dumps({"item": record}).encode()
    params = {"entity": "products"}
    headers = {"X-Zoho-Webhook-Signature": sign(body, params)}
    if hint == "header":
        headers["X-Zoho-Event"] = event
    r = app_client.open("/api/zoho/webhooks/products", method="DELETE" if hint == "method" else "POST",
                        query_string=params, data=body, content_type="application/json", headers=headers)
    assert r.status_code in (200, 202)
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM tds_sync_queue WHERE operation = 'delete'")).scalar() == 0

"""Property: whatever arrives, the receiver never answers 500 and an unauthenticated request records nothing."""
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
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
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
    before = _rows(db)
    r = app_client.post("/api/zoho/webhooks/products", query_string=params, data=body,
                        content_type="application/json", headers={"X-Zoho-Webhook-Signature": sign(body, params)})
    assert r.status_code in (200, 202, 422), (r.status_code, r.json)
    assert r.is_json
    assert _rows(db) == before + (1 if r.status_code == 202 else 0)

"""The sandbox's webhooks for the five later entities reach a real gunicorn receiver and a real Celery worker and
become ERP rows; the same records pulled afterwards change nothing."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tasks.bulk import pull_entity
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support.procs import wait_for
from tests.tasks.bulk_support import Zoho, point_client_at
from zoho_sandbox.server import SandboxServer

pytestmark = pytest.mark.e2e

ENTITIES = {  # entity → (table, Zoho key column, id field)
    "inventory-adjustments": ("inventory_adjustments", "zoho_inventory_adjustment_id", "inventory_adjustment_id"),
    "transfer-orders": ("transfer_orders", "zoho_transfer_order_id", "transfer_order_id"),
    "composite-items": ("composite_items", "zoho_composite_item_id", "composite_item_id"),
    "item-groups": ("item_groups", "zoho_group_id", "group_id"),
    "vendor-credits": ("vendor_credits", "zoho_vendor_credit_id", "vendor_credit_id"),
}


def settled(db) -> bool:
    with db.connect() as c:
        return c.execute(text("SELECT count(*) FROM tds_sync_queue WHERE status <> 'completed'")).scalar() == 0


def test_sandbox_webhooks_for_the_five_later_entities_land_through_a_real_worker(live_stack, db, redis_client,
                                                                                 monkeypatch):
    with SandboxServer(scale=0.02, seed=11, rate_limit=100000, daily_limit=10_000_000,
                       webhook_url=live_stack["url"], webhook_secret=TEST_WEBHOOK_SECRET) as server:
        zoho = Zoho(server.url)
        point_client_at(monkeypatch, server.url)
        touched = {}
        for entity in ENTITIES:
            zid = zoho.records(entity)[0][ENTITIES[entity][2]]
            response = zoho.control("POST", f"/records/{entity}/{zid}/touch", json={"webhook": True}).json()
            touched[entity] = response["record"]
        wait_for(lambda: settled(db) and all(_stored(db, e, r) for e, r in touched.items()), timeout=60,
                 message="webhooks applied by the worker")
        for entity, record in touched.items():
            table, key, id_field = ENTITIES[entity]
            with db.connect() as c:
                raw = c.execute(text(f"SELECT raw FROM {table} WHERE {key} = :z"), {"z": record[id_field]}).scalar()
            assert raw["last_modified_time"] == record["last_modified_time"], entity

        for entity in ENTITIES:  # a pull then brings the rest, and never an older version over the webhook's
            assert pull_entity(entity)["status"] == "completed"
        wait_for(lambda: settled(db), timeout=60, message="pulled events applied")
        for entity, (table, _key, _id_field) in ENTITIES.items():
            with db.connect() as c:
                count = c.execute(text(f"SELECT count(*) FROM {table}")).scalar()
            assert count == len(zoho.records(entity)), entity


def _stored(db, entity: str, record: dict) -> bool:
    table, key, id_field = ENTITIES[entity]
    with db.connect() as c:
        return c.execute(text(f"SELECT count(*) FROM {table} WHERE {key} = :z"), {"z": record[id_field]}).scalar() == 1

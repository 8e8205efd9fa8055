"""Signed webhooks over real HTTP become ERP rows through a real worker, on Redis and RabbitMQ.

See docs/reference.md#endpoints and #tasks.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import text

from tests.support.procs import wait_for
from tests.support.webhooks import item, sign

pytestmark = pytest.mark.e2e


@pytest.fixture
def live_stack(any_broker_stack):
    """Every test here runs once per supported broker."""
    return any_broker_stack


def post(stack, entity, key, record, params=None, secret=None):
    body = json.dumps({key: record}).encode()
    params = {"entity": entity, **(params or {})}  # the signed entity binds the webhook to its route
    headers = {"Content-Type": "application/json", "X-Zoho-Webhook-Signature": sign(body, params)}
    return requests.post(f"{stack['url']}/api/zoho/webhooks/{entity}", data=body, params=params,
                         headers=headers, timeout=10)


def scalar(db, sql, **p):
    with db.connect() as c:
        return c.execute(text(sql), p).scalar()


def test_a_signed_product_webhook_lands_in_products_within_seconds(live_stack, db):
    r = post(live_stack, "products", "item", item(rate=29.36))
    assert r.status_code == 202
    event_id = r.json()["event_id"]
    wait_for(lambda: scalar(db, "SELECT status FROM tds_sync_queue WHERE id = :i", i=event_id) == "completed",
             message="event completed")
    with db.connect() as c:
        p = c.execute(text("SELECT name, name_ar, unit_price, is_active FROM products")).one()
    assert p.name == "Bags-small" and p.name_ar == "حقيبة صغيرة" and str(p.unit_price) == "29.360000"
    assert p.is_active is True
    task_id = scalar(db, "SELECT celery_task_id FROM tds_sync_queue WHERE id = :i", i=event_id)
    assert task_id


def test_out_of_order_and_duplicate_deliveries_converge_on_the_newest_version(live_stack, db):
    newer = item(lmt="2025-11-06T10:00:00+0300", name="newer", rate=8)
    older = item(lmt="2025-11-05T10:00:00+0300", name="older", rate=7)
    statuses = [post(live_stack, "products", "item", rec).status_code for rec in (newer, newer, older, older)]
    assert statuses == [202, 200, 202, 200]
    wait_for(lambda: scalar(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed'") == 2,
             message="both events completed")
    assert scalar(db, "SELECT name FROM products") == "newer"
    assert scalar(db, "SELECT count(*) FROM tds_sync_queue") == 2


def test_customers_and_vendors_arrive_through_their_own_queues(live_stack, db):
    contact = {"contact_id": "2646610000000200001", "contact_name": "Al-Noor Trading", "contact_type": "customer",
               "email": "a@example.iq", "credit_limit": "", "outstanding_receivable_amount": 1250.5,
               "billing_address": {"city": "Baghdad", "zip": ""}, "last_modified_time": "2025-11-04T21:52:11+0300"}
    vendor = {**contact, "contact_id": "2646610000000200002", "contact_type": "vendor", "contact_name": "Supplier Co",
              "outstanding_payable_amount": "99.99"}
    assert post(live_stack, "customers", "contact", contact).status_code == 202
    assert post(live_stack, "vendors", "contact", vendor).status_code == 202
    wait_for(lambda: scalar(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed'") == 2,
             message="contacts completed")
    with db.connect() as c:
        cust = c.execute(text("SELECT name, billing_city, outstanding_receivable, credit_limit FROM customers")).one()
        vend = c.execute(text("SELECT name, outstanding_payable FROM vendors")).one()
    assert (cust.name, cust.billing_city, str(cust.outstanding_receivable), cust.credit_limit) == (
        "Al-Noor Trading", "Baghdad", "1250.500000", None)
    assert (vend.name, str(vend.outstanding_payable)) == ("Supplier Co", "99.990000")


def test_a_burst_of_concurrent_webhooks_all_land_exactly_once(live_stack, db):
    records = [item(item_id=f"26466100000010{i:05d}", name=f"P{i}") for i in range(200)]
    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(lambda r: post(live_stack, "products", "item", r).status_code, records))
    assert codes.count(202) == 200
    wait_for(lambda: scalar(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed'") == 200,
             timeout=60, message="200 events completed")
    assert scalar(db, "SELECT count(*) FROM products") == 200
    assert scalar(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'applied'") == 200

"""The receiver refuses only unusable records; odd field shapes are counted and kept; contacts filed by type."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from models.erp import Bill, ContactPerson, Customer, Product, PurchaseOrder, Vendor
from tasks.pipeline import pipeline_for
from tests.conftest import TEST_ADMIN_TOKEN
from tests.support.webhooks import item, signed_post
from tests.zoho.transformers.support import one, rows

LMT = "2025-11-04T21:52:11+0300"
HOOK = "/api/zoho/webhooks"


def _apply(entity: str, event_id: int) -> None:
    outcome = pipeline_for(entity).run([event_id], "test-task")
    assert outcome.applied == [event_id], outcome


def _warnings(db) -> dict[str, int]:
    with db.connect() as c:
        return dict(c.execute(text("SELECT entity_type, count FROM tds_shape_warnings")).all())


def test_a_bill_with_an_array_billing_address_is_accepted_counted_and_lands_with_the_default_address(client, db):
    bill = {"bill_id": "2646610000000500001", "bill_number": "BL-7", "last_modified_time": LMT, "total": "118.00",
            "billing_address": [{"address": "Depot", "city": "Basra"},
                                {"address": "Head office", "city": "Baghdad", "is_default": True}],
            "line_items": [{"line_item_id": "2646610000000500002", "purchase_rate": 59, "quantity": 2}]}
    r = signed_post(client, f"{HOOK}/bills", "bill", bill)
    assert r.status_code == 202, r.json
    assert _warnings(db) == {"bills": 1}
    _apply("bills", r.json["event_id"])
    landed = one(Bill, zoho_bill_id=bill["bill_id"])
    assert (landed.billing_address, landed.billing_city, landed.total) == ("Head office", "Baghdad", 118)
    assert landed.raw["billing_address"] == bill["billing_address"]  # kept verbatim

    metrics = client.get("/api/zoho/dashboard/metrics", headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"})
    assert metrics.json["shape_warnings"]["bills"]["count"] == 1
    assert metrics.json["shape_warnings"]["bills"]["last_fields"] == ["billing_address"]


def test_a_number_where_text_belongs_and_an_object_where_a_number_belongs_are_warnings_not_refusals(client, db):
    r = signed_post(client, f"{HOOK}/products", "item", item(rate="abc", stock_on_hand={"total": 4}, sku=12345))
    assert r.status_code == 202, r.json
    assert _warnings(db) == {"products": 1}
    _apply("products", r.json["event_id"])
    (product,) = rows(Product)
    assert product.name == "Bags-small" and product.sku == "12345"
    assert product.unit_price is None and product.stock_on_hand is None


def test_a_repeated_event_is_not_counted_twice(client, db):
    record = item(rate={"odd": True})
    assert signed_post(client, f"{HOOK}/products", "item", record).status_code == 202
    assert signed_post(client, f"{HOOK}/products", "item", record).status_code == 200
    assert _warnings(db) == {"products": 1}


@pytest.mark.parametrize("record, field", [
    ({"name": "no id", "last_modified_time": LMT}, "item_id"),
    (item(item_id={"nested": 1}), "item_id"),
    (item(lmt="yesterday-ish"), "last_modified_time"),
    (item(lmt={"when": "now"}), "last_modified_time"),
])
def test_only_an_unusable_record_is_refused(client, db, record, field):
    r = signed_post(client, f"{HOOK}/products", "item", record)
    assert r.status_code == 422 and field in str(r.json["errors"])
    assert _warnings(db) == {}


@pytest.mark.parametrize("route, key, record", [
    ("purchase-orders", "purchase_order", {"purchaseorder_id": "2646610000000800001"}),
    ("purchase-orders", "purchaseorder", {"purchaseorder_id": "2646610000000800001"}),
    ("sales-orders", "sales_order", {"salesorder_id": "2646610000000800002"}),
    ("credit-notes", "credit_note", {"creditnote_id": "2646610000000800003"}),
    ("payments", "customer_payment", {"payment_id": "2646610000000800004"}),
    ("payments", "vendor_payment", {"payment_id": "2646610000000800005"}),
    ("prices", "price_book", {"pricebook_id": "2646610000000800006"}),
    ("warehouses", "location", {"location_id": "2646610000000800007"}),
])
def test_every_envelope_spelling_zoho_uses_is_accepted(client, db, route, key, record):
    r = signed_post(client, f"{HOOK}/{route}", key, {**record, "last_modified_time": LMT})
    assert r.status_code == 202, r.json


def test_purchase_order_under_inventorys_spelling_lands(client, db):
    r = signed_post(client, f"{HOOK}/purchase-orders", "purchase_order",
                    {"purchaseorder_id": "2646610000000800001", "purchaseorder_number": "PO-9",
                     "last_modified_time": LMT})
    _apply("purchase-orders", r.json["event_id"])
    assert one(PurchaseOrder, zoho_purchaseorder_id="2646610000000800001").purchaseorder_number == "PO-9"


def _contact(contact_type: str | None, **extra) -> dict:
    record = {"contact_id": "2646610000000700001", "contact_name": "Dar Al-Salam", "last_modified_time": LMT, **extra}
    if contact_type is not None:
        record["contact_type"] = contact_type
    return record


@pytest.mark.parametrize("route, contact_type, customers, vendors", [
    ("customers", "vendor", 0, 1),
    ("vendors", "customer", 1, 0),
    ("customers", "both", 1, 1),
    ("contacts", "vendor", 0, 1),
    ("contacts", "customer", 1, 0),
    ("contacts", None, 1, 0),
    ("vendors", None, 0, 1),
    ("customers", None, 1, 0),
])
def test_a_contact_is_filed_by_its_own_contact_type_whatever_route_it_came_through(
        client, db, route, contact_type, customers, vendors):
    r = signed_post(client, f"{HOOK}/{route}", "contact", _contact(contact_type))
    assert r.status_code == 202, r.json
    _apply(route, r.json["event_id"])
    assert (len(rows(Customer)), len(rows(Vendor))) == (customers, vendors)


def test_a_both_contact_lands_in_both_tables_with_its_persons_and_its_delete_deactivates_both(client, db):
    persons = [{"contact_person_id": "2646610000000700002", "first_name": "Ali", "last_name": "Hassan",
                "email": "ali@example.com", "phone": "+9647700000000", "is_primary_contact": True},
               {"contact_person_id": "2646610000000700003", "first_name": "Sara", "email": "sara@example.com"}]
    r = signed_post(client, f"{HOOK}/contacts", "contact", _contact("both", contact_persons=persons))
    _apply("contacts", r.json["event_id"])
    for model in (Customer, Vendor):
        row = one(model, zoho_contact_id="2646610000000700001")
        assert (row.contact_person_name, row.contact_person_email, row.contact_person_phone) == (
            "Ali Hassan", "ali@example.com", "+9647700000000")
    assert {p.zoho_contact_person_id for p in rows(ContactPerson)} == {"2646610000000700002", "2646610000000700003"}

    r = signed_post(client, f"{HOOK}/contacts", "contact", _contact("both"), params={"event": "deleted"})
    _apply("contacts", r.json["event_id"])
    assert not one(Customer, zoho_contact_id="2646610000000700001").is_active
    assert not one(Vendor, zoho_contact_id="2646610000000700001").is_active


def test_the_dashboard_page_shows_shape_warnings_per_entity(client, db, monkeypatch):
    monkeypatch.setattr("tasks.health.WORKER_TIMEOUT_SECONDS", 0.2)  # no worker runs here: a short probe
    assert signed_post(client, f"{HOOK}/products", "item", item(rate={"odd": True})).status_code == 202
    html = client.get("/dashboard", headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}).data.decode()
    assert "shape warnings" in html and '<span class="mono">products</span> 1' in html

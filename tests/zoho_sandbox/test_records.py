"""Sandbox controls that change Zoho's data: touch, create, delete, and the records view used for comparisons."""

from __future__ import annotations

import pytest

from tests.zoho_sandbox.conftest import Zoho
from zoho_sandbox.data import COLLECTIONS, ENTITIES, parse_time

LIST_AND_DETAIL = {
    "products": ("/inventory/v1/items", "items", "item", "item_id"),
    "stock": ("/inventory/v1/items", "items", "item", "item_id"),
    "customers": ("/books/v3/contacts", "contacts", "contact", "contact_id"),
    "vendors": ("/books/v3/contacts", "contacts", "contact", "contact_id"),
    "invoices": ("/books/v3/invoices", "invoices", "invoice", "invoice_id"),
    "bills": ("/books/v3/bills", "bills", "bill", "bill_id"),
    "credit-notes": ("/books/v3/creditnotes", "creditnotes", "creditnote", "creditnote_id"),
    "prices": ("/inventory/v1/pricebooks", "pricebooks", "pricebook", "pricebook_id"),
    "warehouses": ("/inventory/v1/locations", "locations", "location", "location_id"),
    "sales-orders": ("/books/v3/salesorders", "salesorders", "salesorder", "salesorder_id"),
    "purchase-orders": ("/books/v3/purchaseorders", "purchaseorders", "purchaseorder", "purchaseorder_id"),
}
ID_FIELDS = {name: spec[3] for name, spec in LIST_AND_DETAIL.items()} | {"payments": "payment_id"}


def test_records_view_covers_every_entity(zoho: Zoho) -> None:
    counts = zoho.stats()["counts"]
    assert set(counts) == set(ENTITIES)
    for entity in ENTITIES:
        records = zoho.records(entity)
        assert len(records) == counts[entity] > 0
    assert {r["payment_type"] for r in zoho.records("payments")} == {"customer", "vendor"}
    assert all(r["contact_type"] in ("vendor", "both") for r in zoho.records("vendors"))
    assert zoho.control("GET", "/records/nope").status_code == 404


@pytest.mark.parametrize("entity", sorted(LIST_AND_DETAIL))
def test_touch_changes_the_record_everywhere_and_bumps_last_modified(zoho: Zoho, entity: str) -> None:
    path, list_key, detail_key, id_field = LIST_AND_DETAIL[entity]
    before = zoho.records(entity)[0]
    response = zoho.control("POST", f"/records/{entity}/{before[id_field]}/touch", json={})
    assert response.status_code == 200
    after = response.json()["record"]
    assert parse_time(after["last_modified_time"]) > parse_time(before["last_modified_time"])
    detail = zoho.ok(f"{path}/{before[id_field]}")[detail_key]
    assert detail == after
    since = {"last_modified_time": after["last_modified_time"]}
    rows = zoho.all_rows(path, list_key, since)
    row = next(r for r in rows if r[id_field] == before[id_field])
    assert all(detail[k] == v for k, v in row.items())
    again = zoho.control("POST", f"/records/{entity}/{before[id_field]}/touch", json={}).json()["record"]
    assert parse_time(again["last_modified_time"]) > parse_time(after["last_modified_time"])


def test_touching_a_payment(zoho: Zoho) -> None:
    payment = zoho.records("payments")[-1]
    after = zoho.control("POST", f"/records/payments/{payment['payment_id']}/touch", json={}).json()["record"]
    assert parse_time(after["last_modified_time"]) > parse_time(payment["last_modified_time"])
    assert after["amount"] == payment["amount"]


def test_touch_with_fields_sets_them(zoho: Zoho) -> None:
    item = zoho.records("products")[3]
    after = zoho.control(
        "POST",
        f"/records/products/{item['item_id']}/touch",
        json={"fields": {"rate": 123250, "name": "Renamed Router"}},
    ).json()["record"]
    assert after["rate"] == 123250 and after["name"] == "Renamed Router" and after["rate_formatted"] == "IQD123,250"
    listed = zoho.ok("/inventory/v1/items", {"search_text": "Renamed Router"})["items"]
    assert [r["item_id"] for r in listed] == [item["item_id"]]


def test_stock_touch_keeps_totals_equal_to_location_sums(zoho: Zoho) -> None:
    goods = [i for i in zoho.records("stock") if i["product_type"] == "goods"]
    for item in goods[:15]:
        after = zoho.control("POST", f"/records/stock/{item['item_id']}/touch", json={}).json()["record"]
        assert after["stock_on_hand"] == sum(loc["location_stock_on_hand"] for loc in after["locations"])
        assert after["available_for_sale_stock"] == sum(
            loc["location_available_for_sale_stock"] for loc in after["locations"]
        )
        assert all(loc["location_committed_stock"] <= loc["location_stock_on_hand"] for loc in after["locations"])
    item = goods[0]
    primary = next(loc for loc in item["locations"] if loc["is_primary"])
    after = zoho.control(
        "POST",
        f"/records/stock/{item['item_id']}/touch",
        json={
            "fields": {
                "locations": [
                    {"location_id": primary["location_id"], "location_stock_on_hand": 77, "location_committed_stock": 0}
                ]
            }
        },
    ).json()["record"]
    assert next(loc for loc in after["locations"] if loc["is_primary"])["location_stock_on_hand"] == 77


def test_document_edits_keep_totals_consistent(zoho: Zoho) -> None:
    invoices = zoho.records("invoices")
    line_counts = set()
    for invoice in invoices[:25]:
        doc = invoice
        for _ in range(3):
            doc = zoho.control("POST", f"/records/invoices/{doc['invoice_id']}/touch", json={}).json()["record"]
            line_counts.add(len(doc["line_items"]))
            assert doc["sub_total"] == pytest.approx(sum(float(li["item_total"]) for li in doc["line_items"]))
            assert doc["total"] == pytest.approx(doc["sub_total"] + doc["tax_total"])
            assert 0 <= doc["balance"] <= doc["total"] + 0.01
    assert len(line_counts) > 1  # lines were added or removed along the way


def test_create_assigns_ids_and_publishes(zoho: Zoho) -> None:
    response = zoho.control("POST", "/records/products", json={"record": {"name": "Sandbox Test Cable", "rate": 5000}})
    assert response.status_code == 201
    created = response.json()["record"]
    item_id = created["item_id"]
    assert len(item_id) == 19 and item_id.startswith("2646610000")
    assert created["name"] == "Sandbox Test Cable" and created["rate"] == 5000
    assert zoho.ok(f"/inventory/v1/items/{item_id}")["item"] == created
    assert item_id in {r["item_id"] for r in zoho.all_rows("/inventory/v1/items", "items")}
    own = zoho.control(
        "POST",
        "/records/customers",
        json={"record": {"contact_id": "2646610000000000777", "contact_name": "Own Id Co"}},
    ).json()["record"]
    assert own["contact_id"] == "2646610000000000777" and own["contact_type"] == "customer"
    assert own["customer_name"] == "Own Id Co"
    duplicate = zoho.control("POST", "/records/customers", json={"record": {"contact_id": "2646610000000000777"}})
    assert duplicate.status_code == 400


@pytest.mark.parametrize("entity", ["invoices", "sales-orders", "bills", "payments", "prices", "warehouses", "vendors"])
def test_created_records_are_complete(zoho: Zoho, entity: str) -> None:
    body = {"record": {"payment_type": "vendor"}} if entity == "payments" else {}
    created = zoho.control("POST", f"/records/{entity}", json=body).json()["record"]
    zoho_id = created[ID_FIELDS[entity]]
    assert (
        zoho.control("GET", f"/records/{entity}/{zoho_id}").json()["record"]["last_modified_time"]
        == created["last_modified_time"]
    )
    if entity == "payments":
        assert zoho.ok(f"/books/v3/vendorpayments/{zoho_id}")["vendorpayment"]["payment_id"] == zoho_id


def test_delete_removes_from_lists_and_details(zoho: Zoho) -> None:
    invoice = zoho.records("invoices")[0]
    before = zoho.stats()["counts"]["invoices"]
    response = zoho.control("DELETE", f"/records/invoices/{invoice['invoice_id']}")
    assert response.status_code == 200 and response.json()["record"]["invoice_id"] == invoice["invoice_id"]
    detail = zoho.get(f"/books/v3/invoices/{invoice['invoice_id']}")
    assert detail.status_code == 404 and detail.json()["code"] == 1002
    assert invoice["invoice_id"] not in {r["invoice_id"] for r in zoho.all_rows("/books/v3/invoices", "invoices")}
    assert zoho.stats()["counts"]["invoices"] == before - 1
    assert zoho.control("DELETE", f"/records/invoices/{invoice['invoice_id']}").status_code == 404


def test_deleting_an_item_drops_it_from_price_books(zoho: Zoho) -> None:
    item = next(i for i in zoho.records("products") if i["pricebook_rates"])
    zoho.control("DELETE", f"/records/products/{item['item_id']}")
    for book in zoho.records("prices"):
        assert item["item_id"] not in {e["item_id"] for e in book["pricebook_items"]}


def test_a_customer_id_is_not_a_vendor(zoho: Zoho) -> None:
    customer = zoho.records("customers")[0]
    assert zoho.control("POST", f"/records/vendors/{customer['contact_id']}/touch", json={}).status_code == 404
    assert zoho.control("POST", f"/records/customers/{customer['contact_id']}/touch", json={}).status_code == 200


def test_create_a_document_for_a_given_customer_and_items(zoho: Zoho) -> None:
    customer = zoho.records("customers")[2]
    items = [i for i in zoho.records("products") if i["product_type"] == "goods"][:2]
    record = {
        "customer_id": customer["contact_id"],
        "status": "sent",
        "line_items": [
            {"item_id": items[0]["item_id"], "quantity": 3},
            {"item_id": items[1]["item_id"], "quantity": 1},
        ],
    }
    created = zoho.control("POST", "/records/invoices", json={"record": record}).json()["record"]
    assert created["customer_name"] == customer["contact_name"] and created["status"] == "sent"
    lines = created["line_items"]
    assert [li["item_id"] for li in lines] == [i["item_id"] for i in items]
    assert lines[0]["name"] == items[0]["name"] and lines[0]["line_item_id"]
    rate = float(lines[0]["rate"])
    assert lines[0]["item_total"] == pytest.approx(3 * rate)
    assert created["total"] == pytest.approx(sum(float(li["item_total"]) for li in lines) + created["tax_total"])
    usd = next(c for c in zoho.records("customers") if c["currency_code"] == "USD")
    record = {"customer_id": usd["contact_id"], "line_items": [{"item_id": items[0]["item_id"], "quantity": 1}]}
    in_usd = zoho.control("POST", "/records/invoices", json={"record": record}).json()["record"]
    assert in_usd["currency_code"] == "USD" and in_usd["exchange_rate"] > 1
    assert in_usd["line_items"][0]["rate"] == pytest.approx(items[0]["rate"] / in_usd["exchange_rate"], abs=0.01)
    bad = zoho.control("POST", "/records/invoices", json={"record": {"customer_id": "2646610000999999999"}})
    assert bad.status_code == 400


def test_a_reset_restores_the_seeded_records_whatever_was_edited_created_or_deleted(zoho: Zoho) -> None:
    """Resets restore a kept snapshot of the seeded organisation (zoho_sandbox.OrgSnapshot), sharing its records:
    an edit that changed a record in place instead of replacing it would outlive the reset and show here."""
    seeded = {entity: zoho.records(entity) for entity in ENTITIES}
    first_new_item = zoho.control("POST", "/records/products", json={}).json()["record"]["item_id"]
    zoho.control("POST", "/reset", json={})
    for entity, records in seeded.items():
        id_field = COLLECTIONS[ENTITIES[entity].collections[0]].id_field
        for record in records[:2]:  # a user-like edit, twice
            for _ in range(2):
                assert zoho.control("POST", f"/records/{entity}/{record[id_field]}/touch", json={}).status_code == 200
        assert zoho.control("POST", f"/records/{entity}", json={}).status_code == 201
    goods = [i for i in seeded["products"] if i["product_type"] == "goods"]
    edits = {
        "products": (goods[0]["item_id"], {"name": "Renamed", "rate": 5000, "stock_on_hand": 3,
                                            "custom_field_values": {"cf_warranty": "9 months"}}),
        "invoices": (seeded["invoices"][0]["invoice_id"], {"status": "void", "notes": "edited",
                                                           "line_items": [{"item_id": goods[1]["item_id"]}]}),
        "customers": (seeded["customers"][0]["contact_id"], {"contact_name": "Renamed Co"}),
        "prices": (seeded["prices"][0]["pricebook_id"], {"name": "Renamed List"}),
    }
    for entity, (zoho_id, fields) in edits.items():
        response = zoho.control("POST", f"/records/{entity}/{zoho_id}/touch", json={"fields": fields})
        assert response.status_code == 200, response.text
    item = next(i for i in goods if i["pricebook_rates"])  # its deletion rewrites the price books too
    for entity, zoho_id in (("products", item["item_id"]), ("invoices", seeded["invoices"][-1]["invoice_id"])):
        assert zoho.control("DELETE", f"/records/{entity}/{zoho_id}").status_code == 200
    assert zoho.records("products") != seeded["products"] and zoho.records("prices") != seeded["prices"]

    zoho.control("POST", "/reset", json={})
    assert {entity: zoho.records(entity) for entity in ENTITIES} == seeded
    # and the id allocator started again: the same new id as after the first reset
    assert zoho.control("POST", "/records/products", json={}).json()["record"]["item_id"] == first_new_item

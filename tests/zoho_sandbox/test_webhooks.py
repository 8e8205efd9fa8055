"""Outgoing webhooks: Zoho's default payload, the HMAC signature, deletes, retries, drops."""

from __future__ import annotations

import hashlib
import hmac
import json

from tests.zoho_sandbox.conftest import WEBHOOK_SECRET, Receiver, Zoho
from zoho_sandbox import sign
from zoho_sandbox.signing import signing_payload


def test_sign_is_hmac_sha256_hex_over_sorted_query_then_body() -> None:
    body = b'{"created_date":"2019-03-06","event_id":"5675"}'
    query = {"subscription_id": "90343", "name": "basic"}
    assert signing_payload(query, body) == b"namebasicsubscription_id90343" + body
    expected = hmac.new(b"secret", b"namebasicsubscription_id90343" + body, hashlib.sha256).hexdigest()
    assert sign("secret", query, body) == expected
    assert sign("secret", {}, body) == hmac.new(b"secret", body, hashlib.sha256).hexdigest()


def test_fired_upsert_carries_the_detail_record_signed(zoho: Zoho, receiver: Receiver) -> None:
    item = zoho.records("products")[0]
    response = zoho.control("POST", "/webhooks/fire", json={"entity": "products", "zoho_id": item["item_id"]})
    assert response.status_code == 200
    result = response.json()
    assert result["status_code"] == 202 and result["delivered"] is True and result["attempts"] == 1
    [hit] = receiver.all()
    assert hit.path == "/api/zoho/webhooks/products" and hit.query == {"entity": "products"}
    assert hit.headers["Content-Type"] == "application/json"
    assert hit.signature_ok
    assert hit.headers["X-Zoho-Webhook-Signature"] == sign(WEBHOOK_SECRET, {"entity": "products"}, hit.body)
    assert hit.json == {"item": zoho.ok(f"/inventory/v1/items/{item['item_id']}")["item"]}
    stats = zoho.stats()["webhooks"]
    assert stats["sent"] == 1 and stats["by_entity"]["products"]["sent"] == 1


def test_every_entity_uses_its_module_key(zoho: Zoho, receiver: Receiver) -> None:
    expected = {
        "products": "item",
        "stock": "item",
        "customers": "contact",
        "vendors": "contact",
        "invoices": "invoice",
        "bills": "bill",
        "credit-notes": "creditnote",
        "prices": "pricebook",
        "warehouses": "location",
        "sales-orders": "salesorder",
        "purchase-orders": "purchaseorder",
    }
    for entity in expected:
        record = zoho.records(entity)[0]
        zoho_id = next(
            v
            for k, v in record.items()
            if k.endswith("_id")
            and k
            in (
                "item_id",
                "contact_id",
                "invoice_id",
                "bill_id",
                "creditnote_id",
                "pricebook_id",
                "location_id",
                "salesorder_id",
                "purchaseorder_id",
            )
        )
        assert zoho.control("POST", "/webhooks/fire", json={"entity": entity, "zoho_id": zoho_id}).json()["delivered"]
    payments = zoho.records("payments")
    for payment in (
        next(p for p in payments if p["payment_type"] == "customer"),
        next(p for p in payments if p["payment_type"] == "vendor"),
    ):
        zoho.control("POST", "/webhooks/fire", json={"entity": "payments", "zoho_id": payment["payment_id"]})
    hits = receiver.all()
    assert all(h.signature_ok for h in hits)
    got = [(h.path.rsplit("/", 1)[1], next(iter(h.json))) for h in hits]
    assert got == list(expected.items()) + [("payments", "payment"), ("payments", "vendorpayment")]
    invoice_hit = next(h for h in hits if h.path.endswith("/invoices"))
    assert invoice_hit.json["invoice"]["line_items"]


def test_legacy_organisations_send_warehouse(zoho: Zoho, receiver: Receiver) -> None:
    zoho.configure(legacy_warehouses=True)
    location = zoho.records("warehouses")[0]
    zoho.control("POST", "/webhooks/fire", json={"entity": "warehouses", "zoho_id": location["warehouse_id"]})
    [hit] = receiver.all()
    assert hit.json["warehouse"]["warehouse_id"] == location["warehouse_id"]


def test_touch_with_webhook_sends_the_new_state(zoho: Zoho, receiver: Receiver) -> None:
    item = next(i for i in zoho.records("stock") if i["product_type"] == "goods")
    response = zoho.control("POST", f"/records/stock/{item['item_id']}/touch", json={"webhook": True}).json()
    assert response["webhook"]["outcome"] == "sent"
    [hit] = receiver.all()
    assert hit.path == "/api/zoho/webhooks/stock" and hit.signature_ok
    assert hit.json == {"item": response["record"]}
    assert hit.json["item"]["last_modified_time"] > item["last_modified_time"]


def test_delete_webhook_uses_event_deleted_in_the_signature(zoho: Zoho, receiver: Receiver) -> None:
    customer = zoho.records("customers")[0]
    response = zoho.control("DELETE", f"/records/customers/{customer['contact_id']}", params={"webhook": "true"})
    assert response.json()["webhook"]["status_code"] == 202
    [hit] = receiver.all()
    query = {"entity": "customers", "event": "deleted"}
    assert hit.path == "/api/zoho/webhooks/customers" and hit.query == query
    assert hit.headers["X-Zoho-Webhook-Signature"] == sign(WEBHOOK_SECRET, query, hit.body)
    assert (
        hmac.new(WEBHOOK_SECRET.encode(), b"entitycustomerseventdeleted" + hit.body, hashlib.sha256).hexdigest()
        == hit.headers["X-Zoho-Webhook-Signature"]
    )
    assert hit.json == {"contact": customer}


def test_a_delete_webhook_can_be_fired_after_a_silent_delete(zoho: Zoho, receiver: Receiver) -> None:
    invoice = zoho.records("invoices")[0]
    zoho.control("DELETE", f"/records/invoices/{invoice['invoice_id']}")
    assert receiver.all() == []
    result = zoho.control(
        "POST", "/webhooks/fire", json={"entity": "invoices", "zoho_id": invoice["invoice_id"], "operation": "delete"}
    ).json()
    assert result["delivered"]
    [hit] = receiver.all()
    assert hit.query == {"entity": "invoices", "event": "deleted"}
    assert hit.json["invoice"]["invoice_id"] == invoice["invoice_id"]
    missing = zoho.control("POST", "/webhooks/fire", json={"entity": "invoices", "zoho_id": invoice["invoice_id"]})
    assert missing.status_code == 404


def test_receiver_errors_are_retried_then_counted_failed(zoho: Zoho, receiver: Receiver) -> None:
    receiver.status = 503
    item = zoho.records("products")[0]
    result = zoho.control("POST", "/webhooks/fire", json={"entity": "products", "zoho_id": item["item_id"]}).json()
    assert result["status_code"] == 503 and result["delivered"] is False and result["attempts"] == 4
    assert len(receiver.all()) == 4
    assert zoho.stats()["webhooks"]["failed"] == 1
    [recent] = zoho.control("GET", "/webhooks").json()["recent"]
    assert recent["outcome"] == "failed" and recent["status"] == 503 and recent["zoho_id"] == item["item_id"]
    receiver.status = 200
    assert zoho.control(
        "POST", "/webhooks/fire", json={"entity": "products", "zoho_id": item["item_id"], "retries": 0}
    ).json()["delivered"]


def test_an_unreachable_receiver_counts_as_failed(zoho: Zoho) -> None:
    zoho.configure(webhook_url="http://127.0.0.1:9", webhook_retries=1)
    item = zoho.records("products")[0]
    result = zoho.control("POST", "/webhooks/fire", json={"entity": "products", "zoho_id": item["item_id"]}).json()
    assert result["delivered"] is False and result["status_code"] is None and result["attempts"] == 2
    assert zoho.stats()["webhooks"]["failed"] == 1


def test_drop_rate_drops_touch_webhooks_but_not_fired_ones(zoho: Zoho, receiver: Receiver) -> None:
    zoho.configure(drop_rate=1.0)
    item = zoho.records("products")[0]
    touched = zoho.control("POST", f"/records/products/{item['item_id']}/touch", json={"webhook": True}).json()
    assert touched["webhook"]["outcome"] == "dropped"
    assert receiver.all() == []
    assert zoho.control("POST", "/webhooks/fire", json={"entity": "products", "zoho_id": item["item_id"]}).json()[
        "delivered"
    ]
    stats = zoho.stats()["webhooks"]
    assert stats["dropped"] == 1 and stats["sent"] == 1


def test_bodies_are_utf8_json_with_arabic(zoho: Zoho, receiver: Receiver) -> None:
    item = next(i for i in zoho.records("products") if i["custom_field_hash"].get("cf_name_ar"))
    zoho.control("POST", "/webhooks/fire", json={"entity": "products", "zoho_id": item["item_id"]})
    [hit] = receiver.all()
    assert item["custom_field_hash"]["cf_name_ar"].encode("utf-8") in hit.body
    assert json.loads(hit.body.decode("utf-8"))["item"]["item_id"] == item["item_id"]

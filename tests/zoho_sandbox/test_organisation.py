"""The seeded organisation: deterministic from the seed, shaped like TSH's real Zoho data."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from tests.zoho_sandbox.conftest import Zoho
from zoho_sandbox.data import COLLECTIONS, SandboxOrg
from zoho_sandbox.generator import BASE_COUNTS

TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\+0300$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def full_org() -> SandboxOrg:
    return SandboxOrg.generate(42, 1.0)


def _everything(org: SandboxOrg) -> dict[str, list[dict]]:
    return {name: org.list_page(name, per_page=10**6, summary=False)[0] for name in COLLECTIONS}


def test_same_seed_same_data_different_seed_different_data() -> None:
    a, b, c = SandboxOrg.generate(7, 0.2), SandboxOrg.generate(7, 0.2), SandboxOrg.generate(8, 0.2)
    assert _everything(a) == _everything(b)
    assert _everything(a)["items"] != _everything(c)["items"]


def test_reset_with_a_seed_is_reproducible_over_http(zoho: Zoho) -> None:
    zoho.control("POST", "/reset", json={"seed": 7, "scale": 0.05})
    first = {e: zoho.records(e) for e in ("products", "invoices", "payments")}
    zoho.control("POST", "/reset", json={"seed": 7, "scale": 0.05})
    assert {e: zoho.records(e) for e in first} == first
    assert zoho.stats()["seed"] == 7


def test_full_scale_counts(full_org: SandboxOrg) -> None:
    counts = full_org.counts()
    assert counts["products"] == BASE_COUNTS["items"] == 2200
    assert counts["customers"] == 2500 + 8 and counts["vendors"] == 80  # 8 vendors are also customers ("both")
    assert counts["invoices"] == 600 and counts["bills"] == 150 and counts["credit-notes"] == 60
    assert counts["sales-orders"] == 200 and counts["purchase-orders"] == 80
    assert counts["payments"] == 500 and counts["prices"] == 4 and counts["warehouses"] == 3


def test_ids_are_unique_19_digit_strings_with_tsh_prefix(full_org: SandboxOrg) -> None:
    data = _everything(full_org)
    ids = [r[COLLECTIONS[name].id_field] for name, rows in data.items() for r in rows]
    assert len(ids) == len(set(ids))
    assert all(isinstance(i, str) and len(i) == 19 and i.startswith("2646610000") for i in ids)
    line_ids = [
        li["line_item_id"]
        for name in ("invoices", "bills", "salesorders")
        for r in data[name]
        for li in r["line_items"]
    ]
    assert len(line_ids) == len(set(line_ids)) and not set(line_ids) & set(ids)


def test_timestamps_and_dates_use_zoho_formats(full_org: SandboxOrg) -> None:
    for name, rows in _everything(full_org).items():
        for r in rows:
            assert TIME_RE.match(r["created_time"]) and TIME_RE.match(r["last_modified_time"]), name
            assert r["last_modified_time"] >= r["created_time"]
            if "date" in r:
                assert DATE_RE.match(r["date"])


def test_items_look_like_tsh_products(full_org: SandboxOrg) -> None:
    items = _everything(full_org)["items"]
    status = Counter(i["status"] for i in items)
    assert 0.02 < status["inactive"] / len(items) < 0.09
    arabic = [i for i in items if i["custom_field_hash"].get("cf_name_ar")]
    assert len(arabic) > len(items) / 2
    sample = arabic[0]
    field = next(cf for cf in sample["custom_fields"] if cf["api_name"] == "cf_name_ar")
    assert (
        field["label"] == "Name AR"
        and field["customfield_id"]
        and field["value"] == sample["custom_field_hash"]["cf_name_ar"]
    )
    assert sample["custom_field_hash"]["cf_name_ar_unformatted"] == field["value"]
    assert any("cf_description_ar" in i["custom_field_hash"] for i in items)
    assert any(i["image_name"] == "" for i in items)
    services = [i for i in items if i["product_type"] == "service"]
    assert services and all(i["stock_on_hand"] == "" and i["available_stock"] == "" for i in services)
    assert any(i["reorder_level"] == "" for i in items) and any(
        isinstance(i["reorder_level"], str) and i["reorder_level"] for i in items
    )
    for key in (
        "item_id",
        "name",
        "sku",
        "unit",
        "brand",
        "category_name",
        "rate",
        "purchase_rate",
        "status",
        "item_type",
        "product_type",
        "description",
        "stock_on_hand",
        "available_stock",
        "actual_available_stock",
        "reorder_level",
        "image_name",
        "image_type",
        "image_document_id",
        "tax_percentage",
        "created_time",
        "last_modified_time",
        "rate_formatted",
        "locations",
        "pricebook_rates",
    ):
        assert key in items[0], key


def test_contacts_documents_and_payments_are_coherent(full_org: SandboxOrg) -> None:
    data = _everything(full_org)
    contacts = {c["contact_id"]: c for c in data["contacts"]}
    assert {c["currency_code"] for c in contacts.values()} == {"IQD", "USD"}
    contact = next(iter(contacts.values()))
    for key in (
        "contact_name",
        "company_name",
        "contact_type",
        "status",
        "payment_terms",
        "payment_terms_label",
        "currency_code",
        "outstanding_receivable_amount",
        "outstanding_payable_amount",
        "unused_credits_receivable_amount",
        "credit_limit",
        "first_name",
        "last_name",
        "email",
        "phone",
        "mobile",
        "billing_address",
        "shipping_address",
    ):
        assert key in contact, key
    assert {"attention", "address", "street2", "city", "state", "zip", "country", "phone"} <= set(
        contact["billing_address"]
    )
    invoices = {i["invoice_id"]: i for i in data["invoices"]}
    for inv in invoices.values():
        assert contacts[inv["customer_id"]]["contact_type"] == "customer"
        assert inv["customer_name"] == contacts[inv["customer_id"]]["contact_name"]
        assert inv["total_formatted"] and inv["balance"] <= inv["total"] + 0.01
    applied: Counter[str] = Counter()
    for payment in data["customerpayments"]:
        for app in payment["invoices"]:
            assert invoices[app["invoice_id"]]["customer_id"] == payment["customer_id"]
            applied[app["invoice_id"]] += app["amount_applied"]
    for cn in data["creditnotes"]:
        for app in cn["invoices"]:
            applied[app["invoice_id"]] += app["amount_applied"]
    for invoice_id, amount in applied.items():
        inv = invoices[invoice_id]
        assert inv["total"] - inv["balance"] == pytest.approx(amount, abs=0.02)
    statuses = Counter(i["status"] for i in invoices.values())
    assert {"paid", "partially_paid", "draft", "void"} <= set(statuses)
    assert any(b["line_items"] and any(li["item_id"] == "" for li in b["line_items"]) for b in data["bills"])
    assert {v["currency_code"] for v in data["invoices"]} == {"IQD", "USD"}


def test_same_seed_same_data_across_processes() -> None:
    """Other processes (the e2e stack, benches) must see the very same organisation for a seed."""
    import os
    import subprocess
    import sys

    script = (
        "import hashlib, json\n"
        "from zoho_sandbox.data import COLLECTIONS, SandboxOrg\n"
        "org = SandboxOrg.generate(11, 0.1)\n"
        "data = {n: org.list_page(n, per_page=10**6, summary=False)[0] for n in COLLECTIONS}\n"
        "print(hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest())\n"
    )
    digests = {
        subprocess.run(
            [sys.executable, "-c", script], env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, check=True
        ).stdout
        for seed in ("1", "2")
    }
    assert len(digests) == 1

"""Pure checks of the spec shapes: addresses, custom fields, discounts, TDS, line locations, contact filing."""
from __future__ import annotations

from decimal import Decimal

import pytest

from models.erp import ContactPerson, Customer, Product, Vendor
from zoho.entities import envelope_keys, get_entity
from zoho.fields import custom_fields_of, discount_kind, pick_address
from zoho.mapper import TransformContext

LMT = "2025-11-04T21:52:11+0300"


def _run(entity: str, record: dict, key: str = ""):
    ctx = TransformContext(entity=entity, record_key=key or get_entity(entity).record_key)
    return get_entity(entity).to_records(record, ctx), ctx


def test_an_array_of_addresses_gives_the_default_one_else_the_first():
    a, b = {"city": "Basra"}, {"city": "Baghdad", "is_default": True}
    assert pick_address([a, b]) is b and pick_address([a, {"city": "Erbil"}]) is a
    assert pick_address({"city": "Mosul"}) == {"city": "Mosul"}
    assert pick_address([]) is None and pick_address("Baghdad") is None


def test_custom_fields_are_keyed_by_api_name_and_label_from_every_zoho_shape():
    record = {"custom_fields": [{"api_name": "cf_project", "label": "Project", "value": "North"},
                                {"customfield_id": "46000000012845", "value": "Normal"}, {"value": "x"}],
              "custom_field_hash": {"cf_grade": "A (formatted)", "cf_grade_unformatted": "A"},
              "cf_flat": "yes", "cf_flat_unformatted": "YES"}
    assert custom_fields_of(record) == {"cf_project": "North", "Project": "North", "46000000012845": "Normal",
                                        "#3": "x", "cf_grade": "A", "cf_flat": "YES"}
    assert custom_fields_of({"name": "no custom fields"}) is None
    assert custom_fields_of({"custom_fields": []}) == {}


@pytest.mark.parametrize("raw, kind", [("10%", "percentage"), ("12.50 %", "percentage"), (10, "amount"),
                                       ("190", "amount"), (0, "amount"), ("", None), (None, None)])
def test_discount_type_says_percentage_or_amount(raw, kind):
    assert discount_kind(raw) == kind


def test_invoice_keeps_tds_inclusive_flag_discount_and_zohos_own_discount_type_in_raw():
    (rec,), _ = _run("invoices", {"invoice_id": "1", "last_modified_time": LMT, "discount": "12.5%",
                                  "discount_type": "entity_level", "discount_total": "25.00",
                                  "is_inclusive_tax": "true", "tds_tax_id": "99", "tds_tax_name": "TDS 2%",
                                  "tax_amount_withheld": 4})
    v = rec.values
    assert (v["discount"], v["discount_type"], v["discount_amount"]) == (Decimal("12.5"), "percentage", Decimal(25))
    assert (v["is_inclusive_tax"], v["tds_amount"], v["tds_tax_id"], v["tds_tax_name"]) == (
        True, Decimal(4), "99", "TDS 2%")
    assert v["raw"]["discount_type"] == "entity_level"


@pytest.mark.parametrize("entity, key, fallback", [("bills", "bill", True), ("purchase-orders", "purchaseorder", True),
                                                   ("invoices", "invoice", False)])
def test_purchase_lines_take_purchase_rate_when_rate_is_absent_and_lines_know_their_location(entity, key, fallback):
    id_field = next(iter(get_entity(entity).record_keys.values()))
    lines = [{"line_item_id": "1", "purchase_rate": 7, "warehouse_id": "77", "warehouse_name": "Old Main"},
             {"line_item_id": "2", "rate": 5, "purchase_rate": 7, "location_id": "78", "location_name": "Erbil"}]
    (rec,), _ = _run(entity, {id_field: "9", "last_modified_time": LMT, "line_items": lines})
    first, second = rec.children[0].rows
    assert first.get("rate") == (Decimal(7) if fallback else None)
    assert second["rate"] == Decimal(5)
    assert (first["zoho_location_id"], first["location_name"]) == ("77", "Old Main")
    assert (second["zoho_location_id"], second["location_name"]) == ("78", "Erbil")


def test_primary_contact_person_is_primary_contact_id_else_the_flagged_one_else_the_first():
    persons = [{"contact_person_id": "1", "first_name": "A", "email": "a@x"},
               {"contact_person_id": "2", "first_name": "B", "last_name": "C", "is_primary_contact": True}]
    records, _ = _run("customers", {"contact_id": "5", "contact_persons": persons})
    assert records[0].values["contact_person_name"] == "B C"
    records, _ = _run("customers", {"contact_id": "5", "contact_persons": persons, "primary_contact_id": "1"})
    assert records[0].values["contact_person_email"] == "a@x"
    assert [r.model for r in records] == [Customer, ContactPerson, ContactPerson]
    assert {r.values["zoho_contact_id"] for r in records[1:]} == {"5"}


@pytest.mark.parametrize("entity, key, contact_type, models", [
    ("customers", "contact", "vendor", [Vendor]), ("vendors", "contact", "customer", [Customer]),
    ("contacts", "contact", "both", [Customer, Vendor]), ("contacts", "contact", None, [Customer]),
    ("contacts", "vendor", None, [Vendor]), ("vendors", "contact", "", [Vendor]),
    ("customers", "contact", "Vendor", [Vendor]),
])
def test_contacts_are_filed_by_their_own_type(entity, key, contact_type, models):
    record = {"contact_id": "5", "contact_name": "X"}
    if contact_type is not None:
        record["contact_type"] = contact_type
    records, _ = _run(entity, record, key)
    assert [r.model for r in records] == models


def test_an_item_without_locations_puts_its_organisation_wide_stock_on_the_product():
    (rec,), _ = _run("stock", {"item_id": "3", "stock_on_hand": 5, "available_stock": "4", "locations": []})
    assert rec.model is Product and (rec.values["stock_on_hand"], rec.values["available_stock"]) == (5, 4)
    assert _run("stock", {"item_id": "3"})[0] == []


def test_odd_shapes_are_left_out_and_noted_while_the_rest_lands():
    (rec,), ctx = _run("bills", {"bill_id": "1", "last_modified_time": LMT, "total": {"value": 3},
                                 "vendor_name": "V", "line_items": {"not": "a list"},
                                 "billing_address": [{"city": "Basra"}]})
    assert "total" not in rec.values and rec.values["vendor_name"] == "V" and rec.children == []
    assert rec.values["billing_city"] == "Basra"
    assert sorted(ctx.warnings) == ["line_items", "total"]


def test_every_envelope_spelling_zoho_uses_is_known():
    assert envelope_keys("purchaseorder") == ("purchaseorder", "purchase_order")
    assert "sales_orders" in envelope_keys("salesorders") and "credit_note" in envelope_keys("creditnote")
    assert {"customerpayment", "customer_payment"} <= set(envelope_keys("payment"))

"""Vendor credits: a vendor document with a tax-inclusive flag, typed header discount, custom fields, line locations."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from models.erp import VendorCredit, VendorCreditLineItem
from tests.zoho.transformers.more_support import children, header, land
from zoho.entities import get_entity

CREDIT = {
    "vendor_credit_id": "2646610000000204928",
    "vendor_credit_number": "DN-00001",
    "date": "2026-03-26",
    "status": "open",
    "reference_number": "RMA-0001",
    "vendor_id": "2646610000000110152",
    "vendor_name": "Huaxin Trading LLC",
    "currency_code": "USD",
    "exchange_rate": 1310,
    "is_inclusive_tax": True,
    "location_id": "2646610000000077024",
    "location_name": "TSH Main Warehouse",
    "discount": "5%",
    "discount_amount": 2.5,
    "discount_type": "entity_level",
    "billing_address": [{"address": "Industrial Zone 4", "city": "Shenzhen", "is_default": True}],
    "line_items": [
        {"line_item_id": "2646610100000000301", "item_id": "2646610000000113826", "item_order": 1,
         "name": "Router AX1500", "sku": "NET-TPL-00012", "quantity": 2, "rate": 25, "bcy_rate": 32750,
         "item_total": 50, "account_id": "2646610000000002005", "account_name": "Cost of Goods Sold",
         "location_id": "2646610000000080034", "location_name": "Basra Branch Warehouse",
         "line_item_taxes": [{"tax_amount": 2.5}]},
        {"line_item_id": "2646610100000000302", "item_id": "2646610000000113827", "name": "Cable", "quantity": 1,
         "purchase_rate": 4.75, "warehouse_id": "2646610000000077024", "warehouse_name": "TSH Main Warehouse"},
    ],
    "custom_fields": [{"customfield_id": "1", "label": "Return Reason", "api_name": "cf_return_reason",
                       "value": "Wrong item"}],
    "sub_total": 54.75,
    "total": 52.25,
    "total_credits_used": 0,
    "total_refunded_amount": 10,
    "balance": 42.25,
    "created_time": "2026-03-26T10:00:00+0300",
    "last_modified_time": "2026-03-27T11:00:00+0300",
}


def body(key: str = "vendor_credit", **changes) -> dict:
    record = copy.deepcopy(CREDIT)
    record.update(changes)
    return {key: record}


def test_the_entity_reads_books_vendorcredits_with_details():
    e = get_entity("vendor-credits")
    assert e.model is VendorCredit and e.queue == "sync.vendor-credits"
    (src,) = e.sources
    assert (src.service, src.path, src.list_key, src.record_key, src.detail, src.filters_honoured) == (
        "books", "/vendorcredits", "vendorcredits", "vendor_credit", True, True)


def test_a_vendor_credit_lands_its_document_columns():
    v = header(land("vendor-credits", body()))
    assert v["zoho_vendor_credit_id"] == "2646610000000204928" and v["vendor_credit_number"] == "DN-00001"
    assert v["vendor_credit_date"] == dt.date(2026, 3, 26)
    assert (v["zoho_vendor_id"], v["vendor_name"]) == ("2646610000000110152", "Huaxin Trading LLC")
    assert (v["status"], v["currency_code"], v["exchange_rate"]) == ("open", "USD", Decimal(1310))
    assert (v["sub_total"], v["total"], v["balance"]) == (Decimal("54.75"), Decimal("52.25"), Decimal("42.25"))
    assert v["total_credits_used"] == Decimal(0) and v["total_refunded_amount"] == Decimal(10)
    assert v["reference_number"] == "RMA-0001" and v["is_active"] is True
    assert (v["zoho_location_id"], v["location_name"]) == ("2646610000000077024", "TSH Main Warehouse")
    assert v["billing_address"] == "Industrial Zone 4" and v["billing_city"] == "Shenzhen"  # from an array


def test_the_accountants_columns_inclusive_tax_discount_and_custom_fields():
    v = header(land("vendor-credits", body()))
    assert v["is_inclusive_tax"] is True
    assert v["discount"] == Decimal(5) and v["discount_type"] == "percentage"
    assert v["discount_amount"] == Decimal("2.5")
    assert v["custom_fields"] == {"cf_return_reason": "Wrong item", "Return Reason": "Wrong item"}
    amount = header(land("vendor-credits", body(discount=12.5)))
    assert amount["discount"] == Decimal("12.5") and amount["discount_type"] == "amount"


def test_each_line_lands_with_its_location_and_a_purchase_rate_when_rate_is_absent():
    records = land("vendor-credits", body())
    (child,) = records[0].children
    assert (child.model, child.parent_fk) == (VendorCreditLineItem, "vendor_credit_id")
    first, second = children(records)
    assert first["zoho_line_item_id"] == "2646610100000000301" and first["quantity"] == Decimal(2)
    assert (first["rate"], first["bcy_rate"], first["item_total"]) == (Decimal(25), Decimal(32750), Decimal(50))
    assert first["tax_amount"] == Decimal("2.5")
    assert (first["zoho_account_id"], first["account_name"]) == ("2646610000000002005", "Cost of Goods Sold")
    assert (first["zoho_location_id"], first["location_name"]) == ("2646610000000080034", "Basra Branch Warehouse")
    assert second["rate"] == Decimal("4.75")
    assert (second["zoho_location_id"], second["location_name"]) == ("2646610000000077024", "TSH Main Warehouse")


def test_line_items_as_one_object_as_zohos_example_shows_is_one_line():
    line = copy.deepcopy(CREDIT["line_items"][0])
    rows = children(land("vendor-credits", body(line_items=line)))
    assert [r["zoho_line_item_id"] for r in rows] == ["2646610100000000301"]


@pytest.mark.parametrize("key", ["vendor_credit", "vendorcredit"])
def test_both_envelope_spellings_land(key):
    assert header(land("vendor-credits", body(key)))["vendor_credit_number"] == "DN-00001"


def test_a_field_of_an_unexpected_shape_never_refuses_the_record():
    v = header(land("vendor-credits", body(total={"x": 1}, is_inclusive_tax=[True], billing_address="Basra",
                                           exchange_rate="n/a")))
    assert "total" not in v and "is_inclusive_tax" not in v and "exchange_rate" not in v
    assert v["billing_address"] is None and v["raw"]["total"] == {"x": 1}


def test_a_delete_deactivates_the_vendor_credit():
    v = header(land("vendor-credits", {"vendor_credit": {"vendor_credit_id": "2646610000000204928"}}, "delete"))
    assert v == {"zoho_vendor_credit_id": "2646610000000204928", "is_active": False, "zoho_last_modified_at": None}

"""Composite items: the item's columns and its components (`mapped_items[]`), from an envelope or a bare detail."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from models.erp import CompositeItem, CompositeItemComponent
from tests.zoho.transformers.more_support import children, header, land
from zoho.entities import get_entity

COMPOSITE = {
    "composite_item_id": "2646610000000204322",
    "name": "Starter Kit 1",
    "sku": "KIT-0001",
    "unit": "set",
    "status": "active",
    "description": "Router and cables",
    "rate": 185000,
    "purchase_rate": "120000.50",
    "tax_name": "Sales Tax",
    "tax_percentage": 5,
    "is_combo_product": True,
    "combo_type": "assembly",
    "item_type": "inventory",
    "product_type": "goods",
    "stock_on_hand": 7,
    "available_stock": 6,
    "reorder_level": 2,
    "brand": "TSH",
    "manufacturer": "TSH Assembly",
    "category_id": "2646610000000002010",
    "category_name": "Networking",
    "ean": 2000000204322,
    "upc": "",
    "part_number": "TSH-KIT-0001",
    "custom_fields": [{"customfield_id": "2646610000000002001", "label": "Warranty", "api_name": "cf_warranty",
                       "value": "1 Year"}],
    "mapped_items": [
        {"line_item_id": "2646610100000000201", "item_id": "2646610000000113826", "item_order": 1,
         "name": "TP-Link Router AX1500", "sku": "NET-TPL-00012", "unit": "pcs", "quantity": 1, "rate": 150000,
         "purchase_rate": 100000, "is_combo_product": False},
        {"item_id": "2646610000000113827", "item_order": 2, "name": "HDMI Cable", "quantity": 2, "rate": 17500},
    ],
    "created_time": "2026-04-01T10:00:00+0300",
    "last_modified_time": "2026-04-02T10:00:00+0300",
}


def test_the_entity_reads_inventory_compositeitems_with_details():
    e = get_entity("composite-items")
    assert e.model is CompositeItem and e.queue == "sync.composite-items"
    (src,) = e.sources
    assert (src.service, src.path, src.list_key, src.record_key, src.detail, src.filters_honoured) == (
        "inventory", "/compositeitems", "composite_items", "composite_item", True, True)


def test_a_composite_item_lands_its_item_columns():
    v = header(land("composite-items", {"composite_item": copy.deepcopy(COMPOSITE)}))
    assert v["zoho_composite_item_id"] == "2646610000000204322" and v["name"] == "Starter Kit 1"
    assert v["unit_price"] == Decimal(185000) and v["cost_price"] == Decimal("120000.50")
    assert (v["combo_type"], v["item_type"], v["product_type"]) == ("assembly", "inventory", "goods")
    assert (v["stock_on_hand"], v["available_stock"], v["reorder_level"]) == (Decimal(7), Decimal(6), Decimal(2))
    assert (v["zoho_category_id"], v["category_name"]) == ("2646610000000002010", "Networking")
    assert v["ean"] == "2000000204322" and v["upc"] is None and v["part_number"] == "TSH-KIT-0001"
    assert v["custom_fields"] == {"cf_warranty": "1 Year", "Warranty": "1 Year"}
    assert v["is_active"] is True and v["tax_percentage"] == Decimal(5)


def test_components_are_keyed_by_line_id_else_by_their_item():
    records = land("composite-items", {"composite_item": copy.deepcopy(COMPOSITE)})
    (child,) = records[0].children
    assert (child.model, child.parent_fk, child.key) == (
        CompositeItemComponent, "composite_item_id", "zoho_line_item_id")
    router, cable = children(records)
    assert router["zoho_line_item_id"] == "2646610100000000201" and router["quantity"] == Decimal(1)
    assert router["rate"] == Decimal(150000) and router["purchase_rate"] == Decimal(100000)
    assert router["is_combo_product"] is False
    assert cable["zoho_line_item_id"] == "item:2646610000000113827" and cable["quantity"] == Decimal(2)


def test_a_bare_detail_answer_lands_like_an_enveloped_one():
    bare = {"code": 0, "message": "success", **copy.deepcopy(COMPOSITE)}
    enveloped = {"composite_item": copy.deepcopy(COMPOSITE)}
    a, b = land("composite-items", bare), land("composite-items", enveloped)
    assert {k: v for k, v in header(a).items() if k != "raw"} == {k: v for k, v in header(b).items() if k != "raw"}
    assert children(a) == children(b)


@pytest.mark.parametrize("key", ["composite_item", "compositeitem"])
def test_both_envelope_spellings_land(key):
    assert header(land("composite-items", {key: copy.deepcopy(COMPOSITE)}))["name"] == "Starter Kit 1"


def test_an_inactive_composite_item_is_deactivated_and_a_delete_too():
    record = {**copy.deepcopy(COMPOSITE), "status": "inactive"}
    assert header(land("composite-items", {"composite_item": record}))["is_active"] is False
    gone = land("composite-items", {"composite_item": {"composite_item_id": "2646610000000204322"}}, "delete")
    assert header(gone)["is_active"] is False


def test_a_field_of_an_unexpected_shape_never_refuses_the_record():
    record = {**copy.deepcopy(COMPOSITE), "rate": {"value": 1}, "stock_on_hand": "lots", "mapped_items": "none"}
    records = land("composite-items", {"composite_item": record})
    v = header(records)
    assert "unit_price" not in v and "stock_on_hand" not in v and v["cost_price"] == Decimal("120000.50")
    assert children(records) is None  # an unreadable component list never wipes the stored components

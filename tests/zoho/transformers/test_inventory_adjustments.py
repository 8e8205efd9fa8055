"""Inventory adjustments: header and lines map column by column, both envelope spellings land, odd shapes land."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from models.erp import InventoryAdjustment, InventoryAdjustmentLineItem
from tests.zoho.transformers.more_support import children, header, land
from zoho.entities import get_entity
from zoho.errors import MappingError

PLUS3 = dt.timezone(dt.timedelta(hours=3))
ADJUSTMENT = {
    "inventory_adjustment_id": "2646610000000202987",
    "date": "2026-03-23",
    "reason": "Damaged goods",
    "reason_id": "2646610000000002007",
    "description": "Two routers dropped",
    "reference_number": "REF-IA-00001",
    "adjustment_type": "quantity",
    "status": "adjusted",
    "location_id": "2646610000000077024",
    "location_name": "TSH Main Warehouse",
    "total": -118000.5,
    "custom_fields": [{"customfield_id": "2646610000100000001", "label": "Approved By", "api_name": "cf_approved_by",
                       "value": "Ali"}],
    "line_items": [
        {"line_item_id": "2646610100000000011", "item_id": "2646610000000113826", "item_order": 1,
         "name": "TP-Link Router AX1500", "sku": "NET-TPL-00012", "description": "", "unit": "pcs",
         "quantity_adjusted": -2, "item_total": -118000.5, "adjustment_account_id": "2646610000000002005",
         "adjustment_account_name": "Cost of Goods Sold", "location_id": "2646610000000077024",
         "location_name": "TSH Main Warehouse"},
        {"line_item_id": "2646610100000000012", "item_id": "2646610000000113827", "item_order": 2,
         "name": "Ugreen HDMI Cable 2m", "unit": "pcs", "quantity_adjusted": "", "value_adjusted": "1,250.75",
         "item_total": 1250.75, "warehouse_id": "2646610000000080034", "warehouse_name": "Basra Branch Warehouse"},
    ],
    "created_time": "2026-03-23T10:00:00+0300",
    "last_modified_time": "2026-03-24T09:15:42+0300",
}


def body(key: str = "inventory_adjustment", **changes) -> dict:
    record = copy.deepcopy(ADJUSTMENT)
    record.update(changes)
    return {key: record}


def test_the_entity_has_its_route_queue_task_and_inventory_source():
    e = get_entity("inventory-adjustments")
    assert e.model is InventoryAdjustment and e.queue == "sync.inventory-adjustments"
    assert e.task_name == "sync.inventory-adjustments.process"
    (src,) = e.sources
    assert (src.service, src.path, src.list_key, src.record_key) == (
        "inventory", "/inventoryadjustments", "inventory_adjustments", "inventory_adjustment")
    assert src.detail and not src.filters_honoured  # Zoho documents no last_modified_time filter here


def test_an_adjustment_lands_every_header_column():
    records = land("inventory-adjustments", body())
    assert records[0].model is InventoryAdjustment
    v = header(records)
    assert v["zoho_inventory_adjustment_id"] == "2646610000000202987"
    assert v["adjustment_date"] == dt.date(2026, 3, 23) and type(v["adjustment_date"]) is dt.date
    assert (v["reason"], v["zoho_reason_id"], v["adjustment_type"], v["status"]) == (
        "Damaged goods", "2646610000000002007", "quantity", "adjusted")
    assert v["description"] == "Two routers dropped" and v["reference_number"] == "REF-IA-00001"
    assert v["zoho_location_id"] == "2646610000000077024" and v["location_name"] == "TSH Main Warehouse"
    assert v["total"] == Decimal("-118000.5") and isinstance(v["total"], Decimal)
    assert v["custom_fields"] == {"cf_approved_by": "Ali", "Approved By": "Ali"}
    assert v["zoho_created_at"] == dt.datetime(2026, 3, 23, 10, 0, tzinfo=PLUS3)
    assert v["zoho_last_modified_at"] == dt.datetime(2026, 3, 24, 9, 15, 42, tzinfo=PLUS3)
    assert v["is_active"] is True and v["raw"]["line_items"][0]["quantity_adjusted"] == -2


def test_each_line_lands_with_its_quantity_or_value_and_its_location():
    records = land("inventory-adjustments", body())
    (child,) = records[0].children
    assert (child.model, child.parent_fk, child.key) == (
        InventoryAdjustmentLineItem, "inventory_adjustment_id", "zoho_line_item_id")
    first, second = children(records)
    assert first["zoho_line_item_id"] == "2646610100000000011" and first["zoho_item_id"] == "2646610000000113826"
    assert first["quantity_adjusted"] == Decimal(-2) and first["item_total"] == Decimal("-118000.5")
    assert first["zoho_adjustment_account_id"] == "2646610000000002005"
    assert first["adjustment_account_name"] == "Cost of Goods Sold"
    assert (first["zoho_location_id"], first["location_name"]) == ("2646610000000077024", "TSH Main Warehouse")
    assert first["sku"] == "NET-TPL-00012" and first["item_order"] == 1
    assert second["quantity_adjusted"] is None and second["value_adjusted"] == Decimal("1250.75")
    # an older organisation names the line's place a warehouse
    assert (second["zoho_location_id"], second["location_name"]) == ("2646610000000080034", "Basra Branch Warehouse")


@pytest.mark.parametrize("key", ["inventory_adjustment", "inventoryadjustment"])
def test_both_envelope_spellings_land_the_same_rows(key):
    assert header(land("inventory-adjustments", body(key))) == header(land("inventory-adjustments", body()))


def test_a_list_row_without_lines_leaves_the_stored_lines_alone():
    row = {k: v for k, v in ADJUSTMENT.items() if k != "line_items"}
    records = land("inventory-adjustments", {"inventory_adjustment": row})
    assert children(records) is None


def test_lines_without_ids_get_stable_positional_keys():
    lines = [{"item_id": "1", "quantity_adjusted": 1}, {"item_id": "2", "quantity_adjusted": 2, "item_order": 7}]
    rows = children(land("inventory-adjustments", body(line_items=lines)))
    assert [r["zoho_line_item_id"] for r in rows] == ["idx:1", "idx:7"]


def test_a_field_of_an_unexpected_shape_never_refuses_the_record():
    odd = body(total={"amount": 5}, reason=["x"], date=12, custom_fields="none",
               line_items={"line_item_id": "2646610100000000011", "quantity_adjusted": {"q": 1}, "name": "One"})
    records = land("inventory-adjustments", odd)
    v = header(records)
    assert "total" not in v and "reason" not in v and "adjustment_date" not in v  # left out, kept in raw
    assert v["raw"]["total"] == {"amount": 5}
    (line,) = children(records)  # Zoho's single-object form is one line
    assert line["name"] == "One" and "quantity_adjusted" not in line


def test_only_the_id_and_a_readable_version_are_required():
    entity = get_entity("inventory-adjustments")
    with pytest.raises(ValidationError):
        entity.validator.load({"reason": "x"})
    with pytest.raises(ValidationError):
        entity.validator.load({"inventory_adjustment_id": "1", "last_modified_time": "yesterday"})
    with pytest.raises(ValidationError):
        entity.validator.load({"inventory_adjustment_id": {"id": 1}})
    with pytest.raises(MappingError):
        entity.record_id({"reason": "x"})


def test_a_delete_deactivates_the_adjustment():
    records = land("inventory-adjustments",
                   {"inventory_adjustment": {"inventory_adjustment_id": "2646610000000202987"}}, operation="delete")
    assert header(records) == {"zoho_inventory_adjustment_id": "2646610000000202987", "is_active": False,
                               "zoho_last_modified_at": None}

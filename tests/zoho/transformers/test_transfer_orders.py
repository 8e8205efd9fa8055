"""Transfer orders: both ends (location or legacy warehouse) and the lines map; odd shapes never refuse."""
from __future__ import annotations

import copy
import datetime as dt
from decimal import Decimal

import pytest

from models.erp import TransferOrder, TransferOrderLineItem
from tests.zoho.transformers.more_support import children, header, land
from zoho.entities import get_entity

TRANSFER = {
    "transfer_order_id": "2646610000000203789",
    "transfer_order_number": "TO-00001",
    "date": "2026-03-18",
    "description": "Branch restock",
    "status": "in_transit",
    "from_location_id": "2646610000000077024",
    "from_location_name": "TSH Main Warehouse",
    "to_location_id": "2646610000000080034",
    "to_location_name": "Basra Branch Warehouse",
    "is_intransit_order": True,
    "line_items": [
        {"line_item_id": "2646610100000000101", "item_id": "2646610000000113826", "item_order": 1,
         "name": "TP-Link Router AX1500", "sku": "NET-TPL-00012", "description": "", "quantity_transfer": 5,
         "unit": "pcs"},
        {"line_item_id": "2646610100000000102", "item_id": "2646610000000113827", "name": "HDMI Cable",
         "quantity": "12", "unit": "pcs"},
    ],
    "custom_fields": [],
    "created_time": "2026-03-18T08:00:00+0300",
    "last_modified_time": "2026-03-18T12:30:00+0300",
}


def body(key: str = "transfer_order", **changes) -> dict:
    record = copy.deepcopy(TRANSFER)
    record.update(changes)
    return {key: record}


def test_the_entity_reads_inventory_transferorders():
    e = get_entity("transfer-orders")
    assert e.model is TransferOrder and e.queue == "sync.transfer-orders"
    (src,) = e.sources
    assert (src.service, src.path, src.list_key, src.record_key, src.detail) == (
        "inventory", "/transferorders", "transfer_orders", "transfer_order", True)


def test_a_transfer_order_lands_both_ends_and_its_header():
    v = header(land("transfer-orders", body()))
    assert v["zoho_transfer_order_id"] == "2646610000000203789" and v["transfer_order_number"] == "TO-00001"
    assert v["transfer_order_date"] == dt.date(2026, 3, 18)
    assert (v["zoho_from_location_id"], v["from_location_name"]) == ("2646610000000077024", "TSH Main Warehouse")
    assert (v["zoho_to_location_id"], v["to_location_name"]) == ("2646610000000080034", "Basra Branch Warehouse")
    assert v["is_intransit_order"] is True and v["status"] == "in_transit"
    assert v["description"] == "Branch restock" and v["custom_fields"] == {}
    assert v["is_active"] is True and v["zoho_last_modified_at"].utcoffset() == dt.timedelta(hours=3)


def test_older_organisations_warehouse_ids_land_in_the_same_columns():
    legacy = copy.deepcopy(TRANSFER)
    for end in ("from", "to"):
        legacy[f"{end}_warehouse_id"] = legacy.pop(f"{end}_location_id")
        legacy[f"{end}_warehouse_name"] = legacy.pop(f"{end}_location_name")
    v = header(land("transfer-orders", {"transfer_order": legacy}))
    assert (v["zoho_from_location_id"], v["zoho_to_location_id"]) == ("2646610000000077024", "2646610000000080034")
    assert v["to_location_name"] == "Basra Branch Warehouse"


def test_each_line_lands_with_the_quantity_moved():
    records = land("transfer-orders", body())
    (child,) = records[0].children
    assert (child.model, child.parent_fk) == (TransferOrderLineItem, "transfer_order_id")
    first, second = children(records)
    assert first["zoho_line_item_id"] == "2646610100000000101" and first["quantity_transfer"] == Decimal(5)
    assert first["sku"] == "NET-TPL-00012" and first["unit"] == "pcs"
    assert second["quantity_transfer"] == Decimal(12)  # named `quantity` in some answers


@pytest.mark.parametrize("key", ["transfer_order", "transferorder"])
def test_both_envelope_spellings_land(key):
    assert header(land("transfer-orders", body(key)))["zoho_transfer_order_id"] == "2646610000000203789"


def test_a_field_of_an_unexpected_shape_never_refuses_the_record():
    v = header(land("transfer-orders", body(is_intransit_order={"x": 1}, from_location_id=["a"], date="soon")))
    assert "is_intransit_order" not in v and "zoho_from_location_id" not in v and "transfer_order_date" not in v
    assert v["zoho_to_location_id"] == "2646610000000080034"


def test_a_delete_deactivates_the_transfer_order():
    v = header(land("transfer-orders", {"transfer_order": {"transfer_order_id": "2646610000000203789"}}, "delete"))
    assert v["is_active"] is False and v["zoho_transfer_order_id"] == "2646610000000203789"

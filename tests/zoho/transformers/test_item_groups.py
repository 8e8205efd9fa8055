"""Item groups: the group's columns and its items' ids, from the list row, an envelope or a bare detail."""
from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from models.erp import ItemGroup
from tests.zoho.transformers.more_support import children, header, land
from zoho.entities import get_entity

GROUP = {
    "group_id": "2646610000000204673",
    "group_name": "Samsung Capacity range 1",
    "product_type": "goods",
    "brand": "Samsung",
    "manufacturer": "Samsung",
    "unit": "pcs",
    "description": "Capacity variants",
    "is_taxable": True,
    "tax_id": "2646610000000002004",
    "tax_name": "Sales Tax",
    "tax_percentage": 5,
    "attribute_id1": "2646610000000002006",
    "attribute_name1": "Capacity",
    "status": "active",
    "custom_fields": [],
    "items": [
        {"item_id": "2646610000000113826", "name": "Samsung SSD 512GB", "attribute_option_name1": "512GB"},
        {"item_id": "2646610000000113827", "name": "Samsung SSD 1TB", "attribute_option_name1": "1TB"},
    ],
    "created_time": "2026-01-10T10:00:00+0300",
    "last_modified_time": "2026-02-10T10:00:00+0300",
}


def test_the_entity_reads_the_inventory_itemgroups_list_without_details():
    e = get_entity("item-groups")
    assert e.model is ItemGroup and e.queue == "sync.item-groups"
    (src,) = e.sources
    assert (src.service, src.path, src.list_key, src.record_key, src.detail) == (
        "inventory", "/itemgroups", "itemgroups", "itemgroup", False)


def test_a_group_lands_its_columns_and_its_items_ids():
    records = land("item-groups", {"item_group": copy.deepcopy(GROUP)})
    assert records[0].model is ItemGroup and children(records) is None
    v = header(records)
    assert v["zoho_group_id"] == "2646610000000204673" and v["group_name"] == "Samsung Capacity range 1"
    assert (v["brand"], v["manufacturer"], v["unit"], v["product_type"]) == ("Samsung", "Samsung", "pcs", "goods")
    assert v["is_taxable"] is True and v["tax_percentage"] == Decimal(5) and v["attribute_name1"] == "Capacity"
    assert v["zoho_item_ids"] == ["2646610000000113826", "2646610000000113827"] and v["item_count"] == 2
    assert v["is_active"] is True and v["custom_fields"] == {}


@pytest.mark.parametrize("body", [
    {"item_group": GROUP}, {"itemgroup": GROUP}, {"code": 0, "message": "success", **GROUP},
], ids=["item_group", "itemgroup", "bare detail"])
def test_every_envelope_zoho_uses_lands(body):
    assert header(land("item-groups", copy.deepcopy(body)))["zoho_group_id"] == "2646610000000204673"


def test_a_single_item_object_as_zohos_example_shows_is_one_item():
    record = {**copy.deepcopy(GROUP), "items": {"item_id": "2646610000000113826", "name": "One"}}
    v = header(land("item-groups", {"item_group": record}))
    assert v["zoho_item_ids"] == ["2646610000000113826"] and v["item_count"] == 1


def test_an_inactive_group_is_deactivated_and_odd_shapes_never_refuse():
    record = {**copy.deepcopy(GROUP), "status": "inactive", "tax_percentage": [5], "group_name": {"en": "x"}}
    v = header(land("item-groups", {"item_group": record}))
    assert v["is_active"] is False and "tax_percentage" not in v and "group_name" not in v

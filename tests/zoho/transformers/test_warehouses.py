"""Warehouses from current `location` bodies and legacy `warehouse` bodies land in one table by the same id."""
from __future__ import annotations

import datetime as dt

import pytest
from marshmallow import ValidationError

from models.erp import Warehouse
from tests.zoho.transformers.support import PLUS3, detail, fixture, list_row, one, sync
from zoho.entities import get_entity



def test_location_body_lands_column_by_column(db):
    sync("warehouses", fixture("warehouses_detail"))

    w = one(Warehouse)
    assert w.zoho_warehouse_id == "2646610000000080011"
    assert w.name == "Basra Branch Warehouse"
    assert w.location_type == "general" and w.zoho_parent_location_id is None
    assert w.is_primary is False
    assert w.status == "active" and w.is_active is True
    assert w.attention == "Branch Manager"
    assert w.address == "Al-Ashar, Street 14, Building 3" and w.street2 == "Ground floor"
    assert (w.city, w.state, w.state_code, w.zip, w.country) == ("Basra", "Basra", "BA", "61001", "Iraq")
    assert w.email == "basra.warehouse@tsh.sale" and w.phone == "+964-7800080011"
    assert w.zoho_last_modified_at == dt.datetime(2025, 10, 1, 12, 0, tzinfo=PLUS3)
    assert w.raw["associated_users"][0]["user_name"] == "Omar Faisal"


def test_legacy_warehouse_body_lands_column_by_column(db):
    sync("warehouses", fixture("warehouses_legacy_detail"))

    w = one(Warehouse)
    assert w.zoho_warehouse_id == "2646610000000077024"
    assert w.name == "TSH Main Warehouse"
    assert w.is_primary is True and w.status == "active" and w.is_active is True
    assert w.attention == "Warehouse Manager"
    assert w.address == "Al-Karrada, Street 62, Building 9" and w.street2 is None
    assert (w.city, w.state_code, w.zip, w.country) == ("Baghdad", "BG", None, "Iraq")
    assert w.email == "baghdad.warehouse@tsh.sale" and w.phone == "+964-7700077024"
    assert w.zoho_last_modified_at == dt.datetime(2025, 8, 7, 9, 0, tzinfo=PLUS3)  # "+03:00" form


@pytest.mark.parametrize("name, list_key", [("warehouses_list_row", "locations"),
                                            ("warehouses_legacy_list_row", "warehouses")])
def test_list_rows_of_both_shapes_land(db, name, list_key):
    row = list_row(name, list_key)
    sync("warehouses", {list_key[:-1]: row})
    w = one(Warehouse)
    assert w.zoho_warehouse_id == (row.get("location_id") or row.get("warehouse_id"))
    assert w.name and w.city and w.is_active is True


def test_the_same_place_in_both_shapes_is_one_row(db):
    loc = detail("warehouses_detail", "location")
    legacy = detail("warehouses_legacy_detail", "warehouse")
    legacy["warehouse_id"] = loc["location_id"]
    legacy["last_modified_time"] = "2025-10-02T12:00:00+0300"
    sync("warehouses", {"location": loc})
    sync("warehouses", {"warehouse": legacy})
    w = one(Warehouse)
    assert w.zoho_warehouse_id == loc["location_id"] and w.name == "TSH Main Warehouse"


def test_inactive_location_is_inactive(db):
    loc = detail("warehouses_detail", "location")
    loc["is_location_active"] = False
    sync("warehouses", {"location": loc})
    w = one(Warehouse)
    assert w.status == "inactive" and w.is_active is False


def test_delete_marks_the_warehouse_inactive(db):
    sync("warehouses", fixture("warehouses_detail"))
    sync("warehouses", {"location": {"location_id": "2646610000000080011"}}, operation="delete")
    w = one(Warehouse)
    assert w.is_active is False and w.name == "Basra Branch Warehouse"


def test_older_version_does_not_overwrite(db):
    new = detail("warehouses_detail", "location")
    old = detail("warehouses_detail", "location")
    old["location_name"] = "Basra Old Name"
    old["last_modified_time"] = "2025-09-01T12:00:00+0300"
    sync("warehouses", {"location": new})
    assert sync("warehouses", {"location": old}).stale == 1
    assert one(Warehouse).name == "Basra Branch Warehouse"


def test_schema_wants_a_location_id_or_a_warehouse_id():
    schema = get_entity("warehouses").validator
    schema.load({"location_id": "1"})
    schema.load({"warehouse_id": "1"})
    with pytest.raises(ValidationError):
        schema.load({"location_name": "Nowhere"})
    with pytest.raises(ValidationError):
        schema.load({"location_id": {"id": 1}})
    schema.load({"location_name": "Nowhere"}, partial=True)

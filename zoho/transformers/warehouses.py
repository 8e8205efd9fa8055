"""Zoho Inventory location (current) or warehouse (older organisations) → `warehouses` row.

Both shapes describe the same thing with the same id: a location has `location_id`,
`location_name`, `is_primary_location`, `is_location_active` and a nested `address{}`;
a legacy warehouse has `warehouse_id`, `warehouse_name`, `is_primary`, `status` and flat
address fields. Stock levels point at these rows by the same Zoho id.
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validates_schema

from models.erp import Warehouse
from models.records import Record
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoDateTime, ZohoId, ZohoText, to_bool, to_text, to_zoho_id
from zoho.mapper import SKIP, CustomFieldsMapper, TransformContext, mapping


class WarehouseSchema(Schema):
    """Either id is enough: `location_id` (current) or `warehouse_id` (legacy)."""

    class Meta:
        unknown = EXCLUDE

    location_id = ZohoId(allow_none=True)
    warehouse_id = ZohoId(allow_none=True)
    location_name = ZohoText(allow_none=True)
    warehouse_name = ZohoText(allow_none=True)
    status = ZohoText(allow_none=True)
    is_primary = fields.Raw(allow_none=True)
    is_primary_location = fields.Raw(allow_none=True)
    is_location_active = fields.Raw(allow_none=True)
    address = fields.Raw(allow_none=True)  # a dict on locations, a string on legacy warehouses
    email = ZohoText(allow_none=True)
    phone = ZohoText(allow_none=True)
    created_time = ZohoDateTime(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)

    @validates_schema
    def has_an_id(self, data: dict[str, Any], partial=None, **kwargs) -> None:
        if not partial and not (data.get("location_id") or data.get("warehouse_id")):
            raise ValidationError("Missing data for required field.", "location_id")


_ADDRESS_PARTS = {  # column → (location address{} key, legacy flat keys…)
    "attention": ("attention", "attention"),
    "address": ("street_address1", "address", "address1"),
    "street2": ("street_address2", "street2", "address2"),
    "city": ("city", "city"),
    "state": ("state", "state"),
    "state_code": ("state_code", "state_code"),
    "zip": ("zip", "zip", "zipcode"),
    "country": ("country", "country"),
}


def _address(r: dict[str, Any]) -> dict[str, Any]:
    nested = r.get("address")
    out: dict[str, Any] = {}
    if isinstance(nested, dict):
        for column, (key, *_legacy) in _ADDRESS_PARTS.items():
            out[column] = to_text(nested.get(key))
        return out
    for column, (_key, *legacy) in _ADDRESS_PARTS.items():
        present = [k for k in legacy if k in r]
        if present:
            out[column] = next((to_text(r[k]) for k in present if to_text(r[k])), None)
    return out


class WarehouseMapper(CustomFieldsMapper):
    direct = (
        ("email", "email", to_text),
        ("phone", "phone", to_text),
        ("type", "location_type", to_text),
        ("parent_location_id", "zoho_parent_location_id", to_zoho_id),
    )

    @mapping("zoho_warehouse_id")
    def zoho_warehouse_id(self, r):
        return self.read(r, "location_id", to_zoho_id) or self.read(r, "warehouse_id", to_zoho_id)

    @mapping("name")
    def name(self, r):
        for field in ("location_name", "warehouse_name", "name"):
            if field in r:
                return self.read(r, field, to_text)
        return SKIP

    @mapping("is_primary")
    def is_primary(self, r):
        for field in ("is_primary_location", "is_primary"):
            if field in r:
                return self.read(r, field, to_bool)
        return SKIP

    @mapping("status")
    def status(self, r):
        if "status" in r:
            return self.read(r, "status", to_text)
        if "is_location_active" in r:
            active = self.read(r, "is_location_active", to_bool)
            return None if active is None else ("active" if active else "inactive")
        return SKIP

    @mapping("is_active")
    def is_active(self, r):
        status = self.status(r)
        if status is SKIP:
            return SKIP
        return (status or "active").lower() != "inactive"

    def values(self, record):
        out = super().values(record)
        out.update(_address(record))
        return out


def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    return [Record(Warehouse, WarehouseMapper(ctx).values(record))]


ENTITY = Entity(
    name="warehouses",
    record_keys={"location": "location_id", "warehouse": "warehouse_id"},
    schema=WarehouseSchema,
    transform=transform,
    model=Warehouse,
    # A handful of rows; whether `/locations` filters by last_modified_time is undocumented.
    sources=(ApiSource("inventory", "/locations", "locations", "location", filters_honoured=False, fallbacks=(
        ApiSource("inventory", "/settings/warehouses", "warehouses", "warehouse", filters_honoured=False),
        ApiSource("inventory", "/warehouses", "warehouses", "warehouse", filters_honoured=False),
    )),),
)

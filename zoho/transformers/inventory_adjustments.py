"""Zoho Inventory adjustment → `inventory_adjustments` row + `inventory_adjustment_line_items`.

The list (`/inventoryadjustments`) takes no `last_modified_time` filter and its rows carry no
lines, so a pull compares versions locally and reads changed ones by detail GET.
"""
from __future__ import annotations

from models.erp import InventoryAdjustment, InventoryAdjustmentLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoId, to_date, to_datetime, to_decimal, to_int, to_text, to_zoho_id
from zoho.mapper import Mapper, SyncedMapper, mapping
from zoho.transformers.lenient import CustomFields, Lenient, LenientSchema, WithLines


class InventoryAdjustmentSchema(LenientSchema):
    inventory_adjustment_id = ZohoId(required=True)


class InventoryAdjustmentMapper(Lenient, CustomFields, SyncedMapper):
    direct = (
        ("inventory_adjustment_id", "zoho_inventory_adjustment_id", to_zoho_id),
        ("date", "adjustment_date", to_date),
        ("adjustment_type", "adjustment_type", to_text),
        ("reason", "reason", to_text),
        ("reason_id", "zoho_reason_id", to_zoho_id),
        ("description", "description", to_text),
        ("reference_number", "reference_number", to_text),
        ("status", "status", to_text),
        ("total", "total", to_decimal),
        ("created_time", "zoho_created_at", to_datetime),
    )

    @mapping("zoho_location_id")
    def location_id(self, r):
        """`location_id`, or `warehouse_id` on organisations without locations."""
        return self.first(r, ("location_id", "warehouse_id"), to_zoho_id)

    @mapping("location_name")
    def location_name(self, r):
        return self.first(r, ("location_name", "warehouse_name"), to_text)

    @mapping("is_active")
    def is_active(self, r):
        """Active unless deleted: `draft` / `adjusted` are statuses, not deactivation."""
        return True


class AdjustmentLineMapper(Lenient, Mapper):
    direct = (
        ("item_id", "zoho_item_id", to_zoho_id),
        ("item_order", "item_order", to_int),
        ("name", "name", to_text),
        ("description", "description", to_text),
        ("sku", "sku", to_text),
        ("unit", "unit", to_text),
        ("quantity_adjusted", "quantity_adjusted", to_decimal),
        ("value_adjusted", "value_adjusted", to_decimal),
        ("item_total", "item_total", to_decimal),
        ("adjustment_account_id", "zoho_adjustment_account_id", to_zoho_id),
        ("adjustment_account_name", "adjustment_account_name", to_text),
    )

    @mapping("zoho_location_id")
    def location_id(self, r):
        return self.first(r, ("location_id", "warehouse_id"), to_zoho_id)

    @mapping("location_name")
    def location_name(self, r):
        return self.first(r, ("location_name", "warehouse_name"), to_text)


INVENTORY_ADJUSTMENT = WithLines(InventoryAdjustment, InventoryAdjustmentMapper, InventoryAdjustmentLineItem,
                                 "inventory_adjustment_id", AdjustmentLineMapper)

ENTITY = Entity(
    name="inventory-adjustments",
    record_keys={"inventory_adjustment": "inventory_adjustment_id", "inventoryadjustment": "inventory_adjustment_id"},
    schema=InventoryAdjustmentSchema,
    transform=INVENTORY_ADJUSTMENT.transform,
    model=InventoryAdjustment,
    sources=(ApiSource("inventory", "/inventoryadjustments", "inventory_adjustments", "inventory_adjustment",
                       detail=True, filters_honoured=False),),
)

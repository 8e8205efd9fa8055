"""Zoho Inventory transfer order → `transfer_orders` row (from / to location) + `transfer_order_line_items`.

Older organisations name the two ends `from_warehouse_id` / `to_warehouse_id`; both spellings land
in the same columns. The list takes no `last_modified_time` filter; lines need the detail GET.
"""
from __future__ import annotations

from models.erp import TransferOrder, TransferOrderLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoId, to_bool, to_date, to_datetime, to_decimal, to_int, to_text, to_zoho_id
from zoho.mapper import Mapper, SyncedMapper, mapping
from zoho.transformers.lenient import CustomFields, Lenient, LenientSchema, WithLines


class TransferOrderSchema(LenientSchema):
    transfer_order_id = ZohoId(required=True)


class TransferOrderMapper(Lenient, CustomFields, SyncedMapper):
    direct = (
        ("transfer_order_id", "zoho_transfer_order_id", to_zoho_id),
        ("transfer_order_number", "transfer_order_number", to_text),
        ("date", "transfer_order_date", to_date),
        ("description", "description", to_text),
        ("status", "status", to_text),
        ("is_intransit_order", "is_intransit_order", to_bool),
        ("created_time", "zoho_created_at", to_datetime),
    )

    @mapping("zoho_from_location_id")
    def from_location_id(self, r):
        return self.first(r, ("from_location_id", "from_warehouse_id"), to_zoho_id)

    @mapping("from_location_name")
    def from_location_name(self, r):
        return self.first(r, ("from_location_name", "from_warehouse_name"), to_text)

    @mapping("zoho_to_location_id")
    def to_location_id(self, r):
        return self.first(r, ("to_location_id", "to_warehouse_id"), to_zoho_id)

    @mapping("to_location_name")
    def to_location_name(self, r):
        return self.first(r, ("to_location_name", "to_warehouse_name"), to_text)

    @mapping("is_active")
    def is_active(self, r):
        """Active unless deleted: `void` or `in_transit` are statuses, not deactivation."""
        return True


class TransferLineMapper(Lenient, Mapper):
    direct = (
        ("item_id", "zoho_item_id", to_zoho_id),
        ("item_order", "item_order", to_int),
        ("name", "name", to_text),
        ("description", "description", to_text),
        ("sku", "sku", to_text),
        ("unit", "unit", to_text),
    )

    @mapping("quantity_transfer")
    def quantity_transfer(self, r):
        return self.first(r, ("quantity_transfer", "quantity"), to_decimal)


TRANSFER_ORDER = WithLines(TransferOrder, TransferOrderMapper, TransferOrderLineItem, "transfer_order_id",
                           TransferLineMapper)

ENTITY = Entity(
    name="transfer-orders",
    record_keys={"transfer_order": "transfer_order_id", "transferorder": "transfer_order_id"},
    schema=TransferOrderSchema,
    transform=TRANSFER_ORDER.transform,
    model=TransferOrder,
    sources=(ApiSource("inventory", "/transferorders", "transfer_orders", "transfer_order",
                       detail=True, filters_honoured=False),),
)

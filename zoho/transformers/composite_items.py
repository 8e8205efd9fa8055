"""Zoho Inventory composite item → `composite_items` row + its components (`mapped_items[]`).

Components are keyed by their `line_item_id`, else by the component's item id, so one
item appears once per composite. The list honours `last_modified_time`; components come
only with the detail GET.
"""
from __future__ import annotations

from models.erp import CompositeItem, CompositeItemComponent
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoId, to_bool, to_datetime, to_decimal, to_int, to_text, to_zoho_id
from zoho.mapper import Mapper, SyncedMapper, mapping
from zoho.transformers.lenient import CustomFields, Lenient, LenientSchema, WithLines


class CompositeItemSchema(LenientSchema):
    composite_item_id = ZohoId(required=True)


class CompositeItemMapper(Lenient, CustomFields, SyncedMapper):
    """`is_active` follows Zoho's `status` (an inactive composite item is deactivated, as products are)."""

    direct = (
        ("composite_item_id", "zoho_composite_item_id", to_zoho_id),
        ("sku", "sku", to_text),
        ("unit", "unit", to_text),
        ("description", "description", to_text),
        ("status", "status", to_text),
        ("combo_type", "combo_type", to_text),
        ("item_type", "item_type", to_text),
        ("product_type", "product_type", to_text),
        ("brand", "brand", to_text),
        ("manufacturer", "manufacturer", to_text),
        ("category_id", "zoho_category_id", to_zoho_id),
        ("category_name", "category_name", to_text),
        ("rate", "unit_price", to_decimal),
        ("purchase_rate", "cost_price", to_decimal),
        ("tax_name", "tax_name", to_text),
        ("tax_percentage", "tax_percentage", to_decimal),
        ("stock_on_hand", "stock_on_hand", to_decimal),
        ("available_stock", "available_stock", to_decimal),
        ("reorder_level", "reorder_level", to_decimal),
        ("ean", "ean", to_text),
        ("upc", "upc", to_text),
        ("isbn", "isbn", to_text),
        ("part_number", "part_number", to_text),
        ("image_name", "image_name", to_text),
        ("created_time", "zoho_created_at", to_datetime),
    )

    @mapping("name")
    def name(self, r):
        return self.first(r, ("name", "composite_item_name", "item_name"), to_text)


class ComponentMapper(Lenient, Mapper):
    direct = (
        ("item_id", "zoho_item_id", to_zoho_id),
        ("item_order", "item_order", to_int),
        ("name", "name", to_text),
        ("sku", "sku", to_text),
        ("unit", "unit", to_text),
        ("description", "description", to_text),
        ("quantity", "quantity", to_decimal),
        ("rate", "rate", to_decimal),
        ("purchase_rate", "purchase_rate", to_decimal),
        ("is_combo_product", "is_combo_product", to_bool),
    )


COMPOSITE_ITEM = WithLines(CompositeItem, CompositeItemMapper, CompositeItemComponent, "composite_item_id",
                           ComponentMapper, children_field="mapped_items", fallback_id="item_id")

ENTITY = Entity(
    name="composite-items",
    record_keys={"composite_item": "composite_item_id", "compositeitem": "composite_item_id"},
    schema=CompositeItemSchema,
    transform=COMPOSITE_ITEM.transform,
    model=CompositeItem,
    sources=(ApiSource("inventory", "/compositeitems", "composite_items", "composite_item", detail=True),),
)

"""Zoho Inventory item → `products` row (names with Arabic fallbacks, Decimal prices)."""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.erp import Product
from models.records import Record
from zoho.entities import ApiSource, Entity
from zoho.fields import (
    ZohoDateTime,
    ZohoDecimal,
    ZohoId,
    ZohoText,
    custom_field,
    to_decimal,
    to_text,
)
from zoho.mapper import SKIP, CustomFieldsMapper, Mapper, TransformContext, mapping

ARABIC_NAME_FIELDS = ("name_ar", "cf_name_ar", "cf_arabic_name", "cf_item_name_ar")
ARABIC_DESCRIPTION_FIELDS = ("description_ar", "cf_description_ar", "cf_arabic_description")


class ItemSchema(Schema):
    """The fields of an item we rely on; everything else Zoho sends is ignored."""

    class Meta:
        unknown = EXCLUDE

    item_id = ZohoId(required=True)
    name = ZohoText(allow_none=True)
    sku = ZohoText(allow_none=True)
    status = ZohoText(allow_none=True)
    rate = ZohoDecimal(allow_none=True)
    purchase_rate = ZohoDecimal(allow_none=True)
    stock_on_hand = ZohoDecimal(allow_none=True)
    available_stock = ZohoDecimal(allow_none=True)
    brand = ZohoText(allow_none=True)
    category_name = ZohoText(allow_none=True)
    ean = ZohoText(allow_none=True)
    upc = ZohoText(allow_none=True)
    isbn = ZohoText(allow_none=True)
    part_number = ZohoText(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)
    created_time = ZohoDateTime(allow_none=True)
    locations = fields.List(fields.Dict(), allow_none=True)
    warehouses = fields.List(fields.Dict(), allow_none=True)
    pricebook_rates = fields.List(fields.Dict(), allow_none=True)
    custom_fields = fields.List(fields.Dict(), allow_none=True)
    custom_field_hash = fields.Dict(allow_none=True)


def first_present(record: dict[str, Any], names: tuple[str, ...]) -> str | None:
    """The first non-empty value among plain fields and custom fields of those names."""
    for name in names:
        value = to_text(record.get(name)) if not isinstance(record.get(name), (dict, list)) else None
        if value:
            return value
        if name.startswith("cf_"):
            value = to_text(custom_field(record, name))
            if value:
                return value
    return None


def arabic_or_fallback(record: dict[str, Any], names: tuple[str, ...], plain: Any) -> Any:
    """The Arabic value when the record has one, else the plain value (`name_ar` ← `name`).

    When the record carries neither the plain field nor any custom fields (a thin list
    row), SKIP keeps whatever Arabic text the ERP already has.
    """
    found = first_present(record, names)
    if found:
        return found
    if plain is SKIP and not ({"custom_fields", "custom_field_hash"} & record.keys()):
        return SKIP
    return None if plain is SKIP else plain


def pricebook_rate(record: dict[str, Any], book_name: str) -> Decimal | None | object:
    """The item's rate in the named price book (from `pricebook_rates[]`), SKIP when not listed."""
    wanted = book_name.strip().lower()
    entries = record.get("pricebook_rates")
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict):
            continue
        name = to_text(entry.get("pricebook_name") or entry.get("name")) or ""
        if name.lower() == wanted:
            return Mapper.read(entry, "pricebook_rate" if "pricebook_rate" in entry else "rate", to_decimal)
    return SKIP


BARCODE_FIELDS = ("barcode", "cf_barcode", "ean", "upc", "isbn")
"""Where a product's scannable code is read, first set wins; `part_number` is a maker's code, not a barcode."""


class ProductMapper(CustomFieldsMapper):
    direct = (
        ("item_id", "zoho_item_id", to_text),
        ("sku", "sku", to_text),
        ("unit", "unit", to_text),
        ("brand", "brand", to_text),
        ("category_name", "category_name", to_text),
        ("ean", "ean", to_text),
        ("upc", "upc", to_text),
        ("isbn", "isbn", to_text),
        ("part_number", "part_number", to_text),
        ("item_type", "item_type", to_text),
        ("product_type", "product_type", to_text),
        ("status", "status", to_text),
        ("rate", "unit_price", to_decimal),
        ("purchase_rate", "cost_price", to_decimal),
        ("stock_on_hand", "stock_on_hand", to_decimal),
        ("reorder_level", "reorder_level", to_decimal),
        ("tax_percentage", "tax_percentage", to_decimal),
        ("image_name", "image_name", to_text),
        ("image_document_id", "image_document_id", to_text),
    )

    @mapping("name")
    def name(self, r):
        if "name" not in r and "item_name" not in r:
            return SKIP
        return to_text(r.get("name")) or to_text(r.get("item_name"))

    @mapping("name_ar")
    def name_ar(self, r):
        return arabic_or_fallback(r, ARABIC_NAME_FIELDS, self.name(r))

    @mapping("description")
    def description(self, r):
        return to_text(r.get("description")) if "description" in r else SKIP

    @mapping("description_ar")
    def description_ar(self, r):
        return arabic_or_fallback(r, ARABIC_DESCRIPTION_FIELDS, self.description(r))

    @mapping("barcode")
    def barcode(self, r):
        if not (set(BARCODE_FIELDS) & r.keys() or {"custom_fields", "custom_field_hash"} & r.keys()):
            return SKIP
        return first_present(r, BARCODE_FIELDS)

    @mapping("sync_status")
    def sync_status(self, r):
        """The seeds' `sync_status` (a plain field or the custom field `cf_sync_status`)."""
        if not ({"sync_status", "cf_sync_status", "custom_fields", "custom_field_hash"} & r.keys()):
            return SKIP
        return first_present(r, ("sync_status", "cf_sync_status"))

    @mapping("available_stock")
    def available_stock(self, r):
        """Zoho's organisation-wide `available_stock`; without it, the sum over `locations[]` / `warehouses[]`."""
        value = self.read(r, "available_stock", to_decimal)
        if value is not None:
            return value
        rows = r.get("locations") or r.get("warehouses") or []
        rows = rows if isinstance(rows, list) else []
        amounts = [
            self.read(row, "location_available_stock" if "location_available_stock" in row
                      else "warehouse_available_stock", to_decimal)
            for row in rows
            if isinstance(row, dict)
        ]
        amounts = [a for a in amounts if a is not None]
        if amounts:
            return sum(amounts, Decimal(0))
        return None if "available_stock" in r else SKIP

    @mapping("consumer_price")
    def consumer_price(self, r):
        return pricebook_rate(r, self.ctx.consumer_pricebook)

    @mapping("wholesale_price")
    def wholesale_price(self, r):
        return pricebook_rate(r, self.ctx.wholesale_pricebook)


def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    return [Record(Product, ProductMapper(ctx).values(record))]


ENTITY = Entity(
    name="products",
    record_keys={"item": "item_id"},
    schema=ItemSchema,
    transform=transform,
    model=Product,
    sources=(ApiSource("inventory", "/items", "items", "item", sortable=True),),
)

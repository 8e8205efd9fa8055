"""Zoho Inventory price book → `price_lists` row + `price_list_items`, and consumer/wholesale prices.

A price book's items (`pricebook_items[]`, only in the detail GET or the webhook) are
its complete line set, keyed by item: one price per product per book. The discount
arrives as `"10"` or `"10%"` (or `""`): the number lands in `discount`, the percent sign
in `discount_is_percent`. Volume pricing keeps its `price_brackets[]` as JSON.

When the book is the configured consumer or wholesale price list (names compared
case-insensitively), each item's rate is also written to `products.consumer_price` /
`wholesale_price`. Those prices stay as last written when the book is deleted or an
item leaves it (the items' own `pricebook_rates[]` refresh them on the next product sync).
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.erp import PriceList, PriceListItem, Product
from models.records import Children, Patch, Record, Ref
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoDateTime, ZohoDecimal, ZohoId, ZohoText, to_bool, to_decimal, to_int, to_text, to_zoho_id
from zoho.mapper import SKIP, CustomFieldsMapper, Mapper, TransformContext, mapping
from zoho.transformers.documents import unique_keys


class PriceBookItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    pricebook_item_id = ZohoId(allow_none=True)
    item_id = ZohoId(allow_none=True)
    name = ZohoText(allow_none=True)
    sku = ZohoText(allow_none=True)
    pricebook_rate = ZohoDecimal(allow_none=True)
    pricebook_discount = ZohoDecimal(allow_none=True)
    price_brackets = fields.List(fields.Dict(), allow_none=True)


class PriceBookSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    pricebook_id = ZohoId(required=True)
    name = ZohoText(allow_none=True)
    description = ZohoText(allow_none=True)
    currency_code = ZohoText(allow_none=True)
    pricebook_type = ZohoText(allow_none=True)
    sales_or_purchase_type = ZohoText(allow_none=True)
    percentage = ZohoDecimal(allow_none=True)
    status = ZohoText(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)
    pricebook_items = fields.List(fields.Nested(PriceBookItemSchema), allow_none=True)


class PriceListMapper(CustomFieldsMapper):
    direct = (
        ("pricebook_id", "zoho_pricebook_id", to_zoho_id),
        ("name", "name", to_text),
        ("description", "description", to_text),
        ("currency_code", "currency_code", to_text),
        ("pricebook_type", "pricebook_type", to_text),
        ("pricing_scheme", "pricing_scheme", to_text),
        ("sales_or_purchase_type", "sales_or_purchase_type", to_text),
        ("percentage", "percentage", to_decimal),
        ("is_increase", "is_increase", to_bool),
        ("rounding_type", "rounding_type", to_text),
        ("decimal_place", "decimal_place", to_int),
        ("is_default", "is_default", to_bool),
        ("status", "status", to_text),
    )


class PriceListItemMapper(Mapper):
    direct = (
        ("item_id", "zoho_item_id", to_zoho_id),
        ("pricebook_item_id", "zoho_pricebook_item_id", to_zoho_id),
        ("name", "name", to_text),
        ("sku", "sku", to_text),
        ("pricing_scheme", "pricing_scheme", to_text),
        ("pricebook_rate", "pricebook_rate", to_decimal),
    )

    @mapping("product_id")
    def product_id(self, r):
        item_id = self.read(r, "item_id", to_zoho_id)
        return Ref(Product, item_id) if item_id else None

    @mapping("discount")
    def discount(self, r):
        return self.read(r, "pricebook_discount", to_decimal) if "pricebook_discount" in r else SKIP

    @mapping("discount_is_percent")
    def discount_is_percent(self, r):
        if "pricebook_discount" not in r:
            return SKIP
        text = to_text(r.get("pricebook_discount"))
        return None if text is None else text.endswith("%")

    @mapping("price_brackets")
    def price_brackets(self, r):
        brackets = r.get("price_brackets")
        if "price_brackets" not in r:
            return SKIP
        return brackets if isinstance(brackets, list) else None


def item_rows(entries: list[Any], ctx: TransformContext) -> list[dict[str, Any]]:
    mapper = PriceListItemMapper(ctx)
    rows = [mapper.values(e) for e in entries if isinstance(e, dict)]
    keys = [row.get("zoho_item_id") or f"idx:{position}" for position, row in enumerate(rows, start=1)]
    for row, key in zip(rows, unique_keys(keys)):
        row["zoho_item_id"] = key
    return rows


def price_column(book_name: str | None, ctx: TransformContext) -> str | None:
    """`consumer_price` / `wholesale_price` when this book is the configured one, else None."""
    name = (book_name or "").strip().lower()
    if name and name == ctx.consumer_pricebook.strip().lower():
        return "consumer_price"
    if name and name == ctx.wholesale_pricebook.strip().lower():
        return "wholesale_price"
    return None


def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    values = PriceListMapper(ctx).values(record)
    rec = Record(PriceList, values)
    entries = record.get("pricebook_items")
    if isinstance(entries, list):
        rows = item_rows(entries, ctx)
        rec.children.append(Children(PriceListItem, "price_list_id", "zoho_item_id", rows))
        column = price_column(values.get("name"), ctx)
        if column:
            # In id order (as placeholders are inserted), so two books touching the same products lock them alike.
            rec.patches.extend(
                Patch(Product, row["zoho_item_id"], {column: row.get("pricebook_rate")})
                for row in sorted(rows, key=lambda r: r["zoho_item_id"])
                if row.get("product_id") is not None
            )
    return [rec]


ENTITY = Entity(
    name="prices",
    record_keys={"pricebook": "pricebook_id", "price_book": "pricebook_id", "pricelist": "pricebook_id"},
    schema=PriceBookSchema,
    transform=transform,
    model=PriceList,
    # List rows lack pricebook_items (detail GET); a few books, so compare versions locally.
    sources=(ApiSource("inventory", "/pricebooks", "pricebooks", "pricebook", detail=True, filters_honoured=False),),
)

"""What the five Zoho documents share: header and line mapping, schemas, and the transform.

A document (invoice, bill, credit note, sales order, purchase order) is one `Record`
of its header with its complete line set as `Children`, so a later version replaces
the lines: lines removed in Zoho disappear, kept lines keep their row (keyed by
`zoho_line_item_id`). List rows carry no `line_items`; then the lines are left alone.
The customer's / vendor's and items' Zoho ids are kept as text, without a foreign
key, so a document that arrives before its party or products is still stored.
Each document module only adds its id, number and date fields and its extra columns.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.records import Children, Record
from zoho.fields import (
    ZohoDate,
    ZohoDateTime,
    ZohoDecimal,
    ZohoId,
    ZohoText,
    discount_kind,
    to_bool,
    to_date,
    to_datetime,
    to_decimal,
    to_int,
    to_text,
    to_zoho_id,
)
from zoho.mapper import SKIP, CustomFieldsMapper, Mapper, TransformContext, mapping
from zoho.transformers.contacts import _address

LINE_KEY = "zoho_line_item_id"


def numbered(prefix: str) -> tuple[tuple[str, str, Any], ...]:
    """The id, number and date of a document: `invoice_id` → `zoho_invoice_id`, `date` → `invoice_date`."""
    return (
        (f"{prefix}_id", f"zoho_{prefix}_id", to_zoho_id),
        (f"{prefix}_number", f"{prefix}_number", to_text),
        ("date", f"{prefix}_date", to_date),
    )


# --- schemas (the receiver's 422 check): types of what we map, only the id required ------------


class LineItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    line_item_id = ZohoId(allow_none=True)
    item_id = ZohoId(allow_none=True)
    name = ZohoText(allow_none=True)
    description = ZohoText(allow_none=True)
    sku = ZohoText(allow_none=True)
    unit = ZohoText(allow_none=True)
    item_order = ZohoDecimal(allow_none=True)
    quantity = ZohoDecimal(allow_none=True)
    rate = ZohoDecimal(allow_none=True)
    bcy_rate = ZohoDecimal(allow_none=True)
    discount = ZohoDecimal(allow_none=True)
    discount_amount = ZohoDecimal(allow_none=True)
    tax_name = ZohoText(allow_none=True)
    tax_percentage = ZohoDecimal(allow_none=True)
    item_total = ZohoDecimal(allow_none=True)
    line_item_taxes = fields.List(fields.Dict(), allow_none=True)
    purchase_rate = ZohoDecimal(allow_none=True)
    location_id = ZohoId(allow_none=True)
    location_name = ZohoText(allow_none=True)
    warehouse_id = ZohoId(allow_none=True)
    warehouse_name = ZohoText(allow_none=True)


class DocumentSchema(Schema):
    """Header fields every document has; subclasses add `<doc>_id` (required) and `<doc>_number`."""

    class Meta:
        unknown = EXCLUDE

    date = ZohoDate(allow_none=True)
    due_date = ZohoDate(allow_none=True)
    status = ZohoText(allow_none=True)
    currency_code = ZohoText(allow_none=True)
    exchange_rate = ZohoDecimal(allow_none=True)
    sub_total = ZohoDecimal(allow_none=True)
    tax_total = ZohoDecimal(allow_none=True)
    discount = ZohoDecimal(allow_none=True)
    discount_total = ZohoDecimal(allow_none=True)
    discount_amount = ZohoDecimal(allow_none=True)
    is_inclusive_tax = fields.Boolean(allow_none=True)
    tds_amount = ZohoDecimal(allow_none=True)
    shipping_charge = ZohoDecimal(allow_none=True)
    adjustment = ZohoDecimal(allow_none=True)
    total = ZohoDecimal(allow_none=True)
    balance = ZohoDecimal(allow_none=True)
    reference_number = ZohoText(allow_none=True)
    location_id = ZohoId(allow_none=True)
    created_time = ZohoDateTime(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)
    updated_time = ZohoDateTime(allow_none=True)
    line_items = fields.List(fields.Nested(LineItemSchema), allow_none=True)
    billing_address = fields.Dict(allow_none=True)
    shipping_address = fields.Dict(allow_none=True)
    custom_fields = fields.List(fields.Dict(), allow_none=True)
    custom_field_hash = fields.Dict(allow_none=True)


class CustomerDocumentSchema(DocumentSchema):
    customer_id = ZohoId(allow_none=True)
    customer_name = ZohoText(allow_none=True)
    salesperson_name = ZohoText(allow_none=True)


class VendorDocumentSchema(DocumentSchema):
    vendor_id = ZohoId(allow_none=True)
    vendor_name = ZohoText(allow_none=True)


# --- mappers -------------------------------------------------------------------------------------


class DocumentMapper(CustomFieldsMapper):
    """Header columns every document has; subclasses add `numbered(<prefix>)` and their extras."""

    direct = (
        ("status", "status", to_text),
        ("currency_code", "currency_code", to_text),
        ("exchange_rate", "exchange_rate", to_decimal),
        ("due_date", "due_date", to_date),
        ("sub_total", "sub_total", to_decimal),
        ("tax_total", "tax_total", to_decimal),
        ("discount", "discount", to_decimal),
        ("is_inclusive_tax", "is_inclusive_tax", to_bool),
        ("shipping_charge", "shipping_charge", to_decimal),
        ("adjustment", "adjustment", to_decimal),
        ("total", "total", to_decimal),
        ("balance", "balance", to_decimal),
        ("reference_number", "reference_number", to_text),
        ("payment_terms", "payment_terms", to_int),
        ("payment_terms_label", "payment_terms_label", to_text),
        ("location_id", "zoho_location_id", to_zoho_id),
        ("location_name", "location_name", to_text),
        ("notes", "notes", to_text),
        ("terms", "terms", to_text),
        ("created_time", "zoho_created_at", to_datetime),
    )

    @mapping("discount_total")
    def discount_total(self, r):
        """Zoho's `discount_total` (the discount in money); older payloads name it `discount_amount`."""
        return self.first(r, ("discount_total", "discount_amount"), to_decimal)

    @mapping("discount_amount")
    def discount_amount(self, r):
        """The header discount in money, when Zoho gives it (`discount_amount`, else `discount_total`)."""
        return self.first(r, ("discount_amount", "discount_total"), to_decimal)

    @mapping("discount_type")
    def discount_type(self, r):
        """'percentage' for a discount like "10%", 'amount' for a number; Zoho's own
        `discount_type` (entity_level / item_level) and `is_discount_before_tax` stay in `raw`."""
        if "discount" not in r:
            return SKIP
        self.read(r, "discount")  # an object or array here is a shape warning, not a type
        return discount_kind(r.get("discount"))

    @mapping("is_active")
    def is_active(self, r):
        """A document is active unless deleted; a `void` status is only a status."""
        return True

    def values(self, record):
        out = super().values(record)
        out.update(_address("billing", record))
        out.update(_address("shipping", record))
        return out


class CustomerDocumentMapper(DocumentMapper):
    direct = DocumentMapper.direct + (
        ("customer_id", "zoho_customer_id", to_zoho_id),
        ("customer_name", "customer_name", to_text),
        ("salesperson_name", "salesperson_name", to_text),
    )


class VendorDocumentMapper(DocumentMapper):
    direct = DocumentMapper.direct + (
        ("vendor_id", "zoho_vendor_id", to_zoho_id),
        ("vendor_name", "vendor_name", to_text),
    )


class TdsMapper(DocumentMapper):
    """Withholding tax (TDS) on invoices and bills, so `total` = sub-total + tax − TDS adds up."""

    @mapping("tds_amount")
    def tds_amount(self, r):
        return self.first(r, ("tds_amount", "tds_total", "tax_amount_withheld"), to_decimal)

    @mapping("tds_tax_id")
    def tds_tax_id(self, r):
        return self.first(r, ("tds_tax_id",), to_zoho_id)

    @mapping("tds_tax_name")
    def tds_tax_name(self, r):
        return self.first(r, ("tds_tax_name", "tds_name"), to_text)


class LineMapper(Mapper):
    """Line columns every document has; the row key is set by `line_rows`.

    `rate_fallbacks`: fields read for `rate` when the line has no usable `rate` (purchase
    documents price their lines by `purchase_rate`).
    """

    rate_fallbacks: tuple[str, ...] = ()
    direct = (
        ("item_id", "zoho_item_id", to_zoho_id),
        ("item_order", "item_order", to_int),
        ("name", "name", to_text),
        ("description", "description", to_text),
        ("sku", "sku", to_text),
        ("unit", "unit", to_text),
        ("quantity", "quantity", to_decimal),
        ("bcy_rate", "bcy_rate", to_decimal),
        ("discount", "discount", to_decimal),
        ("discount_amount", "discount_amount", to_decimal),
        ("tax_name", "tax_name", to_text),
        ("tax_percentage", "tax_percentage", to_decimal),
        ("item_total", "item_total", to_decimal),
    )

    @mapping("rate")
    def rate(self, r):
        if "rate" in r:
            value = self.read(r, "rate", to_decimal)
            if value is not None or not self.rate_fallbacks:
                return value
        for name in self.rate_fallbacks:
            if name in r:
                value = self.read(r, name, to_decimal)
                if value is not None:
                    return value
        return None if "rate" in r or any(n in r for n in self.rate_fallbacks) else SKIP

    @mapping("zoho_location_id")
    def zoho_location_id(self, r):
        """The line's location: `location_id` (current organisations) or `warehouse_id` (older ones)."""
        return self.first(r, ("location_id", "warehouse_id"), to_zoho_id)

    @mapping("location_name")
    def location_name(self, r):
        return self.first(r, ("location_name", "warehouse_name"), to_text)

    @mapping("tax_amount")
    def tax_amount(self, r):
        """The sum of the line's `line_item_taxes[].tax_amount` (0 with an empty list)."""
        taxes = r.get("line_item_taxes")
        if not isinstance(taxes, list):
            return self.read(r, "tax_amount", to_decimal) if "tax_amount" in r else SKIP
        amounts = [self.read(t, "tax_amount", to_decimal) for t in taxes if isinstance(t, dict) and "tax_amount" in t]
        known = [a for a in amounts if a is not None]
        if amounts and not known:
            return None
        return sum(known, Decimal(0))


class PurchaseLineMapper(LineMapper):
    """Bill and purchase-order lines: `rate` falls back to Zoho's `purchase_rate`."""

    rate_fallbacks = ("purchase_rate",)


def unique_keys(keys: list[str]) -> list[str]:
    """Keys made unique within one set (a repeated key gets `#<position>`), as one upsert needs."""
    seen: set[str] = set()
    out = []
    for position, key in enumerate(keys, start=1):
        if key in seen:
            key = f"{key}#{position}"
        seen.add(key)
        out.append(key)
    return out


def line_rows(lines: list[Any], mapper: LineMapper) -> list[dict[str, Any]]:
    """Line rows keyed by `line_item_id`, or by `idx:<item_order or position>` when Zoho gives none."""
    rows, keys = [], []
    for position, line in enumerate(line for line in lines if isinstance(line, dict)):
        row = mapper.values(line)
        zid = mapper.read(line, "line_item_id", to_zoho_id)
        order = row.get("item_order")
        keys.append(zid or f"idx:{order if order is not None else position + 1}")
        rows.append(row)
    for row, key in zip(rows, unique_keys(keys)):
        row[LINE_KEY] = key
    return rows


@dataclass(frozen=True)
class DocumentType:
    """One kind of document: its header model and mapper, its line model and parent key."""

    model: type
    mapper: type[DocumentMapper]
    line_model: type
    parent_fk: str
    line_mapper: type[LineMapper] = LineMapper

    def transform(self, record: dict[str, Any], ctx: TransformContext) -> list[Record]:
        values = self.mapper(ctx).values(record)
        children = []
        lines = record.get("line_items")
        if lines is not None and not isinstance(lines, list):
            ctx.warn("line_items")
        if isinstance(lines, list):
            rows = line_rows(lines, self.line_mapper(ctx))
            children.append(Children(self.line_model, self.parent_fk, LINE_KEY, rows))
        return [Record(self.model, values, children=children)]

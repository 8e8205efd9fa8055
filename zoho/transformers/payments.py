"""Zoho Books customer payment or vendor payment → `payments` row + `payment_applications`.

Both kinds share one table, told apart by `payment_type`: a record under the body key
`vendorpayment` (Books `/vendorpayments`) is a vendor payment, one under `payment`
(`/customerpayments`) a customer payment — unless it carries a `vendor_id` and no
`customer_id`, which only a vendor payment does. Applications come from `invoices[]`
(customer) or `bills[]` (vendor) and are the payment's complete set, keyed by the
document's Zoho id; list rows carry neither, and then the applications are left alone.
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.erp import Payment, PaymentApplication
from models.records import Children, Record
from zoho.entities import ApiSource, Entity
from zoho.fields import (
    ZohoDate,
    ZohoDateTime,
    ZohoDecimal,
    ZohoId,
    ZohoText,
    to_date,
    to_datetime,
    to_decimal,
    to_text,
    to_zoho_id,
)
from zoho.mapper import CustomFieldsMapper, Mapper, TransformContext, mapping
from zoho.transformers.documents import unique_keys

VENDOR_KEYS = {"vendorpayment", "vendor_payment", "vendorpayments"}


class ApplicationSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    invoice_id = ZohoId(allow_none=True)
    bill_id = ZohoId(allow_none=True)
    invoice_number = ZohoText(allow_none=True)
    bill_number = ZohoText(allow_none=True)
    amount_applied = ZohoDecimal(allow_none=True)


class PaymentSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    payment_id = ZohoId(required=True)
    payment_number = ZohoText(allow_none=True)
    date = ZohoDate(allow_none=True)
    payment_mode = ZohoText(allow_none=True)
    amount = ZohoDecimal(allow_none=True)
    unused_amount = ZohoDecimal(allow_none=True)
    bank_charges = ZohoDecimal(allow_none=True)
    exchange_rate = ZohoDecimal(allow_none=True)
    currency_code = ZohoText(allow_none=True)
    customer_id = ZohoId(allow_none=True)
    vendor_id = ZohoId(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)
    invoices = fields.List(fields.Nested(ApplicationSchema), allow_none=True)
    bills = fields.List(fields.Nested(ApplicationSchema), allow_none=True)


def payment_type(record: dict[str, Any], ctx: TransformContext) -> str:
    if ctx.record_key in VENDOR_KEYS:
        return "vendor"
    if to_text(record.get("payment_type")) in ("vendor", "customer"):
        return to_text(record.get("payment_type"))  # type: ignore[return-value]
    if to_text(record.get("vendor_id")) and not to_text(record.get("customer_id")):
        return "vendor"
    return "customer"


class PaymentMapper(CustomFieldsMapper):
    direct = (
        ("payment_id", "zoho_payment_id", to_zoho_id),
        ("payment_number", "payment_number", to_text),
        ("date", "payment_date", to_date),
        ("payment_mode", "payment_mode", to_text),
        ("status", "status", to_text),
        ("amount", "amount", to_decimal),
        ("bcy_amount", "bcy_amount", to_decimal),
        ("unused_amount", "unused_amount", to_decimal),
        ("bank_charges", "bank_charges", to_decimal),
        ("amount_refunded", "amount_refunded", to_decimal),
        ("currency_code", "currency_code", to_text),
        ("exchange_rate", "exchange_rate", to_decimal),
        ("reference_number", "reference_number", to_text),
        ("description", "description", to_text),
        ("customer_id", "zoho_customer_id", to_zoho_id),
        ("customer_name", "customer_name", to_text),
        ("vendor_id", "zoho_vendor_id", to_zoho_id),
        ("vendor_name", "vendor_name", to_text),
        ("created_time", "zoho_created_at", to_datetime),
    )

    @mapping("payment_type")
    def payment_type(self, r):
        return payment_type(r, self.ctx)

    @mapping("zoho_account_id")
    def zoho_account_id(self, r):
        """Deposited to (customer payment) or paid through (vendor payment)."""
        return self.first(r, ("account_id", "paid_through_account_id"), to_zoho_id)

    @mapping("account_name")
    def account_name(self, r):
        return self.first(r, ("account_name", "paid_through_account_name"), to_text)

    @mapping("is_active")
    def is_active(self, r):
        return True


class ApplicationMapper(Mapper):
    """One applied document; `kind` is `invoice` or `bill` (their field names differ slightly)."""

    def __init__(self, ctx: TransformContext, kind: str):
        super().__init__(ctx)
        self.kind = kind

    @mapping("document_type")
    def document_type(self, r):
        return self.kind

    @mapping("document_number")
    def document_number(self, r):
        return self.read(r, f"{self.kind}_number", to_text)

    @mapping("document_date")
    def document_date(self, r):
        return self.read(r, "date", to_date)

    @mapping("document_total")
    def document_total(self, r):
        return self.read(r, "invoice_amount" if "invoice_amount" in r else "total", to_decimal)

    @mapping("document_balance")
    def document_balance(self, r):
        return self.read(r, "balance_amount" if "balance_amount" in r else "balance", to_decimal)

    @mapping("amount_applied")
    def amount_applied(self, r):
        return self.read(r, "amount_applied", to_decimal)


def application_rows(record: dict[str, Any], ctx: TransformContext) -> list[dict[str, Any]] | None:
    """Rows from `invoices[]` and `bills[]`; None when the record carries neither (a list row)."""
    present = [(k, record[k]) for k in ("invoices", "bills") if isinstance(record.get(k), list)]
    if not present:
        return None
    rows, keys = [], []
    for list_key, entries in present:
        kind = list_key[:-1]
        mapper = ApplicationMapper(ctx, kind)
        for entry in entries:
            if not isinstance(entry, dict):
                continue
            rows.append(mapper.values(entry))
            keys.append(mapper.read(entry, f"{kind}_id", to_zoho_id) or f"idx:{len(rows)}")
    for row, key in zip(rows, unique_keys(keys)):
        row["zoho_document_id"] = key
    return rows


def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    rec = Record(Payment, PaymentMapper(ctx).values(record))
    rows = application_rows(record, ctx)
    if rows is not None:
        rec.children.append(Children(PaymentApplication, "payment_id", "zoho_document_id", rows))
    return [rec]


ENTITY = Entity(
    name="payments",
    record_keys={
        "payment": "payment_id", "vendorpayment": "payment_id", "vendor_payment": "payment_id",
        "customerpayment": "payment_id", "customer_payment": "payment_id",
    },
    schema=PaymentSchema,
    transform=transform,
    model=Payment,
    sources=(
        ApiSource("books", "/customerpayments", "customerpayments", "payment", detail=True),
        ApiSource("books", "/vendorpayments", "vendorpayments", "vendorpayment", detail=True),
    ),
)

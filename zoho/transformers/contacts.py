"""Zoho Books contact → `customers` / `vendors` row: the mapping both entities share."""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.records import Record
from zoho.fields import ZohoDateTime, ZohoDecimal, ZohoId, ZohoText, to_decimal, to_int, to_text
from zoho.mapper import SyncedMapper, TransformContext, mapping
from zoho.mapper import SKIP
from zoho.transformers.products import arabic_or_fallback

ARABIC_NAME_FIELDS = ("name_ar", "cf_name_ar", "cf_arabic_name", "cf_contact_name_ar")


class ContactSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    contact_id = ZohoId(required=True)
    contact_name = ZohoText(allow_none=True)
    company_name = ZohoText(allow_none=True)
    contact_type = ZohoText(allow_none=True)
    email = ZohoText(allow_none=True)
    status = ZohoText(allow_none=True)
    credit_limit = ZohoDecimal(allow_none=True)
    outstanding_receivable_amount = ZohoDecimal(allow_none=True)
    outstanding_payable_amount = ZohoDecimal(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)
    created_time = ZohoDateTime(allow_none=True)
    billing_address = fields.Dict(allow_none=True)
    shipping_address = fields.Dict(allow_none=True)
    custom_fields = fields.List(fields.Dict(), allow_none=True)
    custom_field_hash = fields.Dict(allow_none=True)


def _address(kind: str, r: dict[str, Any]) -> dict[str, Any]:
    if f"{kind}_address" not in r:
        return {}
    addr = r.get(f"{kind}_address")
    addr = addr if isinstance(addr, dict) else {}
    out = {}
    for part in ("attention", "address", "street2", "city", "state", "country", "phone"):
        out[f"{kind}_{part}"] = to_text(addr.get(part))
    out[f"{kind}_zip"] = to_text(addr.get("zip", addr.get("zipcode")))
    return out


class ContactMapper(SyncedMapper):
    direct = (
        ("contact_id", "zoho_contact_id", to_text),
        ("company_name", "company_name", to_text),
        ("first_name", "first_name", to_text),
        ("last_name", "last_name", to_text),
        ("email", "email", to_text),
        ("phone", "phone", to_text),
        ("mobile", "mobile", to_text),
        ("website", "website", to_text),
        ("status", "status", to_text),
        ("currency_code", "currency_code", to_text),
        ("payment_terms", "payment_terms", to_int),
        ("payment_terms_label", "payment_terms_label", to_text),
        ("credit_limit", "credit_limit", to_decimal),
        ("notes", "notes", to_text),
    )

    @mapping("name")
    def name(self, r):
        if not {"contact_name", "customer_name", "vendor_name", "company_name"} & r.keys():
            return SKIP
        return (
            to_text(r.get("contact_name"))
            or to_text(r.get("customer_name"))
            or to_text(r.get("vendor_name"))
            or to_text(r.get("company_name"))
        )

    @mapping("name_ar")
    def name_ar(self, r):
        return arabic_or_fallback(r, ARABIC_NAME_FIELDS, self.name(r))

    @mapping("tax_number")
    def tax_number(self, r):
        keys = ("tax_reg_no", "vat_reg_no", "gst_no", "tax_id_value")
        if not set(keys) & r.keys():
            return SKIP
        return next((to_text(r[k]) for k in keys if to_text(r.get(k))), None)

    def values(self, record):
        out = super().values(record)
        out.update(_address("billing", record))
        out.update(_address("shipping", record))
        return out


class CustomerMapper(ContactMapper):
    direct = ContactMapper.direct + (
        ("outstanding_receivable_amount", "outstanding_receivable", to_decimal),
        ("unused_credits_receivable_amount", "unused_credits", to_decimal),
    )


class VendorMapper(ContactMapper):
    direct = ContactMapper.direct + (
        ("outstanding_payable_amount", "outstanding_payable", to_decimal),
        ("unused_credits_payable_amount", "unused_credits", to_decimal),
    )


def contact_transform(model: type, mapper: type[ContactMapper]):
    def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
        return [Record(model, mapper(ctx).values(record))]

    return transform

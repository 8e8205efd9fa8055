"""Zoho Books contact → `customers` / `vendors` rows by its own `contact_type`, and its `contact_persons`.

Zoho Books has one Contacts module; a record is filed by what it says it is, not by the
route it came through: `customer` → customers, `vendor` → vendors, `both` → both tables.
A record with no `contact_type` is filed as the route's entity (the `contacts` route:
customers, Zoho's default type). Every entry of `contact_persons[]` becomes a
`contact_persons` row (keyed by its Zoho id, versioned by the contact's
`last_modified_time`), and the primary one (else the first) is copied onto the contact
row as `contact_person_name|email|phone|mobile`.
"""
from __future__ import annotations

from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.erp import ContactPerson, Customer, Vendor
from models.records import Record
from zoho.fields import (
    ZohoDateTime,
    ZohoDecimal,
    ZohoId,
    ZohoText,
    pick_address,
    to_bool,
    to_decimal,
    to_int,
    to_text,
    to_zoho_id,
)
from zoho.mapper import SKIP, CustomFieldsMapper, SyncedMapper, TransformContext, last_modified, mapping
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
    contact_persons = fields.List(fields.Dict(), allow_none=True)


def _part(addr: dict[str, Any], *names: str) -> str | None:
    for name in names:
        value = addr.get(name)
        if value is not None and not isinstance(value, (dict, list)):
            return to_text(value)
    return None


def _address(kind: str, r: dict[str, Any]) -> dict[str, Any]:
    """`<kind>_address` flattened: a mapping, or the default (else first) of an array of them."""
    if f"{kind}_address" not in r:
        return {}
    addr = pick_address(r.get(f"{kind}_address")) or {}
    out = {}
    for part in ("attention", "address", "street2", "city", "state", "country", "phone"):
        out[f"{kind}_{part}"] = _part(addr, part) if part != "address" else _part(addr, "address", "street")
    out[f"{kind}_zip"] = _part(addr, "zip", "zipcode")
    return out


def primary_person(r: dict[str, Any]) -> dict[str, Any] | None | object:
    """The contact's primary person (`primary_contact_id`, else the one marked `is_primary_contact`), else
    the first; SKIP when the record lists none (a list row)."""
    persons = r.get("contact_persons")
    if not isinstance(persons, list):
        return SKIP
    persons = [p for p in persons if isinstance(p, dict)]
    primary_id = r.get("primary_contact_id")
    if primary_id not in (None, "") and not isinstance(primary_id, (dict, list)):
        for p in persons:
            if str(p.get("contact_person_id")) == str(primary_id):
                return p
    for p in persons:
        if to_bool(p.get("is_primary_contact")) and not isinstance(p.get("is_primary_contact"), (dict, list)):
            return p
    return persons[0] if persons else None


def person_name(p: dict[str, Any]) -> str | None:
    """`first_name last_name` of a contact person (either may be missing)."""
    parts = [p.get(k) for k in ("first_name", "last_name")]
    names = [to_text(v) for v in parts if v is not None and not isinstance(v, (dict, list))]
    return " ".join(n for n in names if n) or None


class ContactMapper(CustomFieldsMapper):
    direct = (
        ("contact_id", "zoho_contact_id", to_text),
        ("contact_type", "contact_type", to_text),
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

    def _person(self, r, part: str):
        p = primary_person(r)
        if p is SKIP:
            return SKIP
        return None if p is None else self.read(p, part, to_text)

    @mapping("contact_person_name")
    def contact_person_name(self, r):
        p = primary_person(r)
        if p is SKIP:
            return SKIP
        return None if p is None else person_name(p)

    @mapping("contact_person_email")
    def contact_person_email(self, r):
        return self._person(r, "email")

    @mapping("contact_person_phone")
    def contact_person_phone(self, r):
        return self._person(r, "phone")

    @mapping("contact_person_mobile")
    def contact_person_mobile(self, r):
        return self._person(r, "mobile")

    def values(self, record):
        out = super().values(record)
        out.update(_address("billing", record))
        out.update(_address("shipping", record))
        return out


class ContactPersonMapper(SyncedMapper):
    """One `contact_persons[]` entry (or a contact-person record of Zoho's own endpoint)."""

    direct = (
        ("contact_person_id", "zoho_contact_person_id", to_zoho_id),
        ("contact_id", "zoho_contact_id", to_zoho_id),
        ("salutation", "salutation", to_text),
        ("first_name", "first_name", to_text),
        ("last_name", "last_name", to_text),
        ("email", "email", to_text),
        ("phone", "phone", to_text),
        ("mobile", "mobile", to_text),
        ("designation", "designation", to_text),
        ("department", "department", to_text),
        ("is_primary_contact", "is_primary_contact", to_bool),
    )

    @mapping("is_active")
    def is_active(self, r):
        return True


def person_records(record: dict[str, Any], ctx: TransformContext, active: bool = True) -> list[Record]:
    """A `contact_persons` row per entry with an id, carrying the contact's id and version."""
    persons = record.get("contact_persons")
    if persons is not None and not isinstance(persons, list):
        ctx.warn("contact_persons")
    if not isinstance(persons, list):
        return []
    raw_id = record.get("contact_id")
    contact_id = to_zoho_id(raw_id) if not isinstance(raw_id, (dict, list)) else None
    version = last_modified(record)
    mapper = ContactPersonMapper(ctx)
    out = []
    for position, p in enumerate(persons, start=1):
        if not isinstance(p, dict):
            ctx.warn("contact_persons[]")
            continue
        values = mapper.values(p)
        if not values.get("zoho_contact_person_id"):
            if not contact_id:
                continue
            # Zoho's own examples list persons without their id: keep them, keyed by position.
            values["zoho_contact_person_id"] = f"{contact_id}#{position}"
        if contact_id:
            values["zoho_contact_id"] = contact_id
        values["zoho_last_modified_at"] = version
        values["is_active"] = active
        out.append(Record(ContactPerson, values))
    return out


def contact_person_records(person: dict[str, Any], ctx: TransformContext) -> list[Record]:
    """A record of Zoho's contact-persons endpoint (`contact_person`, carrying its `contact_id`)."""
    values = ContactPersonMapper(ctx).values(person)
    return [Record(ContactPerson, values)] if values.get("zoho_contact_person_id") else []


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


TABLES: dict[str, tuple[type, type[ContactMapper]]] = {
    "customers": (Customer, CustomerMapper),
    "vendors": (Vendor, VendorMapper),
}
FILING = {"customer": ("customers",), "vendor": ("vendors",), "both": ("customers", "vendors")}
BY_BODY_KEY = {"customer": "customers", "vendor": "vendors"}


def filed_as(record: dict[str, Any], default: str, body_key: str = "") -> tuple[str, ...]:
    """The tables a contact belongs in, by its own `contact_type`; with none, by the body key
    (`{"vendor": …}`), else the route's entity."""
    default = BY_BODY_KEY.get(body_key, default)
    kind = record.get("contact_type")
    kind = to_text(kind).lower() if isinstance(kind, str) and to_text(kind) else None
    return FILING.get(kind, (default,)) if kind else (default,)


def contact_transform(default: str):
    """The transform of a contact route: file by `contact_type`, then the contact persons."""

    def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
        out = [Record(TABLES[name][0], TABLES[name][1](ctx).values(record))
               for name in filed_as(record, default, ctx.record_key)]
        return out + person_records(record, ctx)

    return transform


def contact_tombstone(default: str):
    """A contact's delete deactivates it in the tables its `contact_type` files it in, with its persons."""

    def on_delete(entity, record: dict[str, Any], ctx: TransformContext) -> list[Record]:
        zoho_id = entity.record_id(record)
        version = last_modified(record)
        out = [Record(TABLES[name][0], {"zoho_contact_id": zoho_id, "is_active": False,
                                        "zoho_last_modified_at": version})
               for name in filed_as(record, default, ctx.record_key)]
        return out + person_records(record, ctx, active=False)

    return on_delete

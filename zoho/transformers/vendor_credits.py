"""Zoho Books vendor credit → `vendor_credits` row + `vendor_credit_line_items`, a document like bills.

Beyond the shared document columns: the tax-inclusive flag, the header discount with its
kind ('percentage' for "10%", 'amount' otherwise) and its money, custom fields, and each
line's location. Zoho's own example sends `line_items` as one object: read as one line.
"""
from __future__ import annotations

from typing import Any

from models.erp import VendorCredit, VendorCreditLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoId, discount_kind, to_bool, to_decimal, to_text, to_zoho_id
from zoho.mapper import SKIP, mapping
from zoho.transformers.contacts import _address
from zoho.transformers.documents import LineMapper, VendorDocumentMapper, numbered
from zoho.transformers.lenient import CustomFields, Lenient, LenientSchema, WithLines


class VendorCreditSchema(LenientSchema):
    vendor_credit_id = ZohoId(required=True)


def _one_address(value: Any) -> dict | None:
    """A mapping, or from an array of them the default one (else the first)."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        found = [a for a in value if isinstance(a, dict)]
        for a in found:
            if any(to_bool(a.get(k)) for k in ("is_default", "is_default_address", "is_primary")):
                return a
        return found[0] if found else None
    return None


class VendorCreditMapper(Lenient, CustomFields, VendorDocumentMapper):
    direct = tuple(d for d in VendorDocumentMapper.direct if d[1] != "discount_type") + numbered("vendor_credit") + (
        ("is_inclusive_tax", "is_inclusive_tax", to_bool),
        ("total_credits_used", "total_credits_used", to_decimal),
        ("total_refunded_amount", "total_refunded_amount", to_decimal),
    )

    @mapping("discount_type")
    def discount_type(self, r):
        """'percentage' / 'amount' from how `discount` is written (Zoho's entity_level / item_level stays in raw)."""
        return discount_kind(r.get("discount")) if "discount" in r else SKIP

    @mapping("discount_amount")
    def discount_amount(self, r):
        return self.first(r, ("discount_amount", "discount_total"), to_decimal)

    def values(self, record):
        out = super().values(record)
        for kind in ("billing", "shipping"):
            if f"{kind}_address" in record:
                out.update(_address(kind, {f"{kind}_address": _one_address(record[f"{kind}_address"])}))
        return out


class VendorCreditLineMapper(Lenient, LineMapper):
    direct = LineMapper.direct + (
        ("account_id", "zoho_account_id", to_zoho_id),
        ("account_name", "account_name", to_text),
    )

    @mapping("rate")
    def rate(self, r):
        """`rate`, else `purchase_rate` (Inventory's name for the vendor price)."""
        return self.first(r, ("rate", "purchase_rate"), to_decimal)

    @mapping("zoho_location_id")
    def location_id(self, r):
        return self.first(r, ("location_id", "warehouse_id"), to_zoho_id)

    @mapping("location_name")
    def location_name(self, r):
        return self.first(r, ("location_name", "warehouse_name"), to_text)


VENDOR_CREDIT = WithLines(VendorCredit, VendorCreditMapper, VendorCreditLineItem, "vendor_credit_id",
                          VendorCreditLineMapper)

ENTITY = Entity(
    name="vendor-credits",
    record_keys={"vendor_credit": "vendor_credit_id", "vendorcredit": "vendor_credit_id"},
    schema=VendorCreditSchema,
    transform=VENDOR_CREDIT.transform,
    model=VendorCredit,
    sources=(ApiSource("books", "/vendorcredits", "vendorcredits", "vendor_credit", detail=True),),
)

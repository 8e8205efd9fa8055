"""Zoho Books bill → `bills` row + `bill_line_items`.

Books `/bills` honours `last_modified_time`; Inventory's `/bills` would not (the puller
then compares locally), so the Books list is the source.
"""
from __future__ import annotations

from models.erp import Bill, BillLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoDecimal, ZohoId, ZohoText, to_decimal
from zoho.transformers.documents import (
    DocumentType,
    PurchaseLineMapper,
    TdsMapper,
    VendorDocumentMapper,
    VendorDocumentSchema,
    numbered,
)


class BillSchema(VendorDocumentSchema):
    bill_id = ZohoId(required=True)
    bill_number = ZohoText(allow_none=True)
    payment_made = ZohoDecimal(allow_none=True)


class BillMapper(VendorDocumentMapper, TdsMapper):
    direct = VendorDocumentMapper.direct + numbered("bill") + (
        ("payment_made", "payment_made", to_decimal),
    )


BILL = DocumentType(Bill, BillMapper, BillLineItem, "bill_id", PurchaseLineMapper)

ENTITY = Entity(
    name="bills",
    record_keys={"bill": "bill_id"},
    schema=BillSchema,
    transform=BILL.transform,
    model=Bill,
    sources=(ApiSource("books", "/bills", "bills", "bill", detail=True),),
)

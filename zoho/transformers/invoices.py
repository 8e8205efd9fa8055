"""Zoho Books invoice → `invoices` row + `invoice_line_items` (detail GET or webhook carries the lines)."""
from __future__ import annotations

from models.erp import Invoice, InvoiceLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoDecimal, ZohoId, ZohoText, to_decimal, to_zoho_id
from zoho.transformers.documents import (
    CustomerDocumentMapper,
    CustomerDocumentSchema,
    DocumentType,
    TdsMapper,
    numbered,
)


class InvoiceSchema(CustomerDocumentSchema):
    invoice_id = ZohoId(required=True)
    invoice_number = ZohoText(allow_none=True)
    payment_made = ZohoDecimal(allow_none=True)
    credits_applied = ZohoDecimal(allow_none=True)
    salesorder_id = ZohoId(allow_none=True)


class InvoiceMapper(CustomerDocumentMapper, TdsMapper):
    direct = CustomerDocumentMapper.direct + numbered("invoice") + (
        ("payment_made", "payment_made", to_decimal),
        ("credits_applied", "credits_applied", to_decimal),
        ("salesorder_id", "zoho_salesorder_id", to_zoho_id),
    )


INVOICE = DocumentType(Invoice, InvoiceMapper, InvoiceLineItem, "invoice_id")

ENTITY = Entity(
    name="invoices",
    record_keys={"invoice": "invoice_id"},
    schema=InvoiceSchema,
    transform=INVOICE.transform,
    model=Invoice,
    sources=(ApiSource("books", "/invoices", "invoices", "invoice", detail=True),),
)

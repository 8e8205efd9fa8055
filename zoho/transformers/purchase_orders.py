"""Zoho Books purchase order → `purchase_orders` row + `purchase_order_line_items` (received/billed quantities)."""
from __future__ import annotations

from models.erp import PurchaseOrder, PurchaseOrderLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoDate, ZohoId, ZohoText, to_date, to_decimal, to_text
from zoho.transformers.documents import (
    DocumentType,
    PurchaseLineMapper,
    VendorDocumentMapper,
    VendorDocumentSchema,
    numbered,
)


class PurchaseOrderSchema(VendorDocumentSchema):
    purchaseorder_id = ZohoId(required=True)
    purchaseorder_number = ZohoText(allow_none=True)
    delivery_date = ZohoDate(allow_none=True)


class PurchaseOrderMapper(VendorDocumentMapper):
    direct = VendorDocumentMapper.direct + numbered("purchaseorder") + (
        ("delivery_date", "delivery_date", to_date),
        ("order_status", "order_status", to_text),
        ("billed_status", "billed_status", to_text),
        ("received_status", "received_status", to_text),
    )


class PurchaseOrderLineMapper(PurchaseLineMapper):
    direct = PurchaseLineMapper.direct + (
        ("quantity_received", "quantity_received", to_decimal),
        ("quantity_billed", "quantity_billed", to_decimal),
    )


PURCHASE_ORDER = DocumentType(
    PurchaseOrder, PurchaseOrderMapper, PurchaseOrderLineItem, "purchase_order_id", PurchaseOrderLineMapper
)

ENTITY = Entity(
    name="purchase-orders",
    record_keys={"purchaseorder": "purchaseorder_id", "purchase_order": "purchaseorder_id"},
    schema=PurchaseOrderSchema,
    transform=PURCHASE_ORDER.transform,
    model=PurchaseOrder,
    sources=(ApiSource("books", "/purchaseorders", "purchaseorders", "purchaseorder", detail=True),),
)

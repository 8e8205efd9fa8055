"""Zoho Books sales order → `sales_orders` row + `sales_order_line_items` (with invoiced/shipped quantities)."""
from __future__ import annotations

from models.erp import SalesOrder, SalesOrderLineItem
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoDate, ZohoId, ZohoText, to_date, to_decimal, to_text
from zoho.transformers.documents import (
    CustomerDocumentMapper,
    CustomerDocumentSchema,
    DocumentType,
    LineMapper,
    numbered,
)


class SalesOrderSchema(CustomerDocumentSchema):
    salesorder_id = ZohoId(required=True)
    salesorder_number = ZohoText(allow_none=True)
    shipment_date = ZohoDate(allow_none=True)


class SalesOrderMapper(CustomerDocumentMapper):
    direct = CustomerDocumentMapper.direct + numbered("salesorder") + (
        ("shipment_date", "shipment_date", to_date),
        ("order_status", "order_status", to_text),
        ("invoiced_status", "invoiced_status", to_text),
        ("paid_status", "paid_status", to_text),
        ("shipped_status", "shipped_status", to_text),
    )


class SalesOrderLineMapper(LineMapper):
    direct = LineMapper.direct + (
        ("quantity_invoiced", "quantity_invoiced", to_decimal),
        ("quantity_packed", "quantity_packed", to_decimal),
        ("quantity_shipped", "quantity_shipped", to_decimal),
    )


SALES_ORDER = DocumentType(SalesOrder, SalesOrderMapper, SalesOrderLineItem, "sales_order_id", SalesOrderLineMapper)

ENTITY = Entity(
    name="sales-orders",
    record_keys={"salesorder": "salesorder_id", "sales_order": "salesorder_id"},
    schema=SalesOrderSchema,
    transform=SALES_ORDER.transform,
    model=SalesOrder,
    sources=(ApiSource("books", "/salesorders", "salesorders", "salesorder", detail=True),),
)

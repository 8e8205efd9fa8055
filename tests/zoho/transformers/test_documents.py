"""The five documents land header + lines, a new version replaces the line set, old versions and deletes behave."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from marshmallow import ValidationError

from models.erp import (
    Bill,
    BillLineItem,
    CreditNote,
    CreditNoteLineItem,
    Customer,
    Invoice,
    InvoiceLineItem,
    PurchaseOrder,
    PurchaseOrderLineItem,
    SalesOrder,
    SalesOrderLineItem,
    Vendor,
)
from tests.zoho.transformers.support import PLUS3, detail, list_row, one, rows, sync
from zoho.entities import get_entity

UTC = dt.timezone.utc


@dataclass(frozen=True)
class Doc:
    entity: str
    fixture: str
    key: str  # body key
    list_key: str
    id_field: str
    model: type
    line_model: type
    fk: str
    party: str  # customer | vendor

    @property
    def zoho_key(self) -> str:
        return self.model.zoho_key

    def record(self) -> dict:
        return detail(f"{self.fixture}_detail", self.key)

    def lines(self, parent_id: int) -> list:
        return rows(self.line_model, order_by="id", **{self.fk: parent_id})

    def header(self):
        return one(self.model)


DOCS = [
    Doc("invoices", "invoices", "invoice", "invoices", "invoice_id", Invoice, InvoiceLineItem, "invoice_id", "customer"),
    Doc("bills", "bills", "bill", "bills", "bill_id", Bill, BillLineItem, "bill_id", "vendor"),
    Doc("credit-notes", "credit_notes", "creditnote", "creditnotes", "creditnote_id", CreditNote, CreditNoteLineItem,
        "credit_note_id", "customer"),
    Doc("sales-orders", "sales_orders", "salesorder", "salesorders", "salesorder_id", SalesOrder, SalesOrderLineItem,
        "sales_order_id", "customer"),
    Doc("purchase-orders", "purchase_orders", "purchaseorder", "purchaseorders", "purchaseorder_id", PurchaseOrder,
        PurchaseOrderLineItem, "purchase_order_id", "vendor"),
]
by_entity = pytest.mark.parametrize("doc", DOCS, ids=[d.entity for d in DOCS])


def _later(record: dict, minutes: int = 10) -> str:
    """`last_modified_time` a few minutes after the record's, in Zoho's `+0300` form."""
    from zoho.fields import to_datetime

    ts = to_datetime(record["last_modified_time"]) + dt.timedelta(minutes=minutes)
    return ts.astimezone(PLUS3).strftime("%Y-%m-%dT%H:%M:%S%z")


# --- each document, column by column ----------------------------------------------------------


def test_invoice_detail_lands_every_header_column_and_each_line(db):
    body = {"invoice": detail("invoices_detail", "invoice")}
    assert sync("invoices", body).applied == 1

    inv = one(Invoice)
    assert inv.zoho_invoice_id == "2646610000091234501"
    assert inv.invoice_number == "INV-001842"
    assert inv.invoice_date == dt.date(2025, 11, 4) and type(inv.invoice_date) is dt.date
    assert inv.due_date == dt.date(2025, 12, 4)
    assert inv.status == "partially_paid"
    assert inv.currency_code == "USD"
    assert inv.exchange_rate == Decimal("1310")
    assert inv.sub_total == Decimal("276.19") and isinstance(inv.sub_total, Decimal)
    assert inv.tax_total == Decimal("9.7")
    assert inv.discount == Decimal(0) and inv.discount_type == "amount"  # Zoho's "item_level" stays in raw
    assert inv.raw["discount_type"] == "item_level"
    assert inv.discount_total == Decimal("10.21")
    assert inv.shipping_charge == Decimal(15)
    assert inv.adjustment is None  # "" → NULL
    assert inv.total == Decimal("300.89")
    assert inv.balance == Decimal("200.89")
    assert inv.payment_made == Decimal(100) and inv.credits_applied == Decimal(0)
    assert inv.zoho_customer_id == "2646610000000080129"
    assert inv.customer_name == "Al-Hadi Electronics"
    assert inv.reference_number == "PO-AH-7781"
    assert inv.salesperson_name == "Zahraa Hussein"
    assert inv.payment_terms == 30 and inv.payment_terms_label == "Net 30"
    assert inv.zoho_location_id == "2646610000000077024" and inv.location_name == "TSH Main Warehouse"
    assert inv.zoho_salesorder_id == "2646610000091230001"
    assert inv.notes == "شكراً لتعاملكم معنا"
    assert inv.billing_city == "Basra" and inv.billing_zip == "61001"
    assert inv.shipping_street2 == "Floor 2" and inv.shipping_state == "Dhi Qar"
    assert inv.zoho_created_at == dt.datetime(2025, 11, 4, 21, 52, 11, tzinfo=PLUS3)
    assert inv.zoho_last_modified_at == dt.datetime(2025, 11, 5, 9, 15, 42, tzinfo=PLUS3)
    assert inv.zoho_last_modified_at.tzinfo is not None
    assert inv.last_synced_at is not None and inv.is_active is True
    assert inv.raw["custom_field_hash"]["cf_delivery_route"] == "Basra-2"
    assert len(inv.raw["line_items"]) == 3

    socket, card, service = rows(InvoiceLineItem, invoice_id=inv.id)
    assert socket.zoho_line_item_id == "2646610000091234511"
    assert socket.zoho_item_id == "2646610000000080676"
    assert (socket.name, socket.sku, socket.unit) == ("Porodo Extension Socket 4 Way PO1188", "PWR-POR-00011", "pcs")
    assert socket.description == "4-way extension, 3 m cable"
    assert socket.item_order == 1
    assert socket.quantity == Decimal(10) and isinstance(socket.quantity, Decimal)
    assert socket.rate == Decimal("20.42") and socket.bcy_rate == Decimal(26750)
    assert socket.discount == Decimal(5)  # "5.00%"
    assert socket.discount_amount == Decimal("10.21")
    assert socket.tax_name == "VAT" and socket.tax_percentage == Decimal(5)
    assert socket.tax_amount == Decimal("9.7")  # from line_item_taxes[]
    assert socket.item_total == Decimal("193.99")
    assert (card.zoho_line_item_id, card.item_order, card.tax_amount, card.item_total) == (
        "2646610000091234512", 2, Decimal(0), Decimal("57.2"))
    assert card.tax_name is None  # "" → NULL
    assert service.sku is None and service.unit is None
    assert service.zoho_item_id == "2646610000000099001" and service.item_total == Decimal(25)


def test_bill_detail_lands_vendor_header_and_lines_with_empty_numbers_as_null(db):
    sync("bills", {"bill": detail("bills_detail", "bill")})

    bill = one(Bill)
    assert bill.zoho_bill_id == "2646610000092000101" and bill.bill_number == "BILL-000417"
    assert bill.bill_date == dt.date(2025, 10, 27) and bill.due_date == dt.date(2025, 12, 11)
    assert bill.status == "open" and bill.currency_code == "IQD"
    assert bill.exchange_rate == Decimal(1)
    assert bill.zoho_vendor_id == "2646610000000080593"
    assert bill.vendor_name == "Anatolia Company for Computers"
    assert bill.reference_number == "ANT-INV-55021"
    assert bill.discount is None and bill.shipping_charge is None  # "" → NULL
    assert (bill.sub_total, bill.tax_total, bill.total, bill.balance) == (
        Decimal(669000), Decimal(0), Decimal(669000), Decimal(669000))
    assert bill.payment_made == Decimal(0)
    assert bill.billing_zip == "33359" and bill.billing_city == "Baghdad"
    # "2015-05-29 00:00:00+00:00" form, and an empty updated_time does not matter
    assert bill.zoho_created_at == dt.datetime(2025, 10, 27, 0, 58, 17, tzinfo=UTC)
    assert bill.zoho_last_modified_at == dt.datetime(2025, 10, 28, 11, 4, 9, tzinfo=PLUS3)

    cable, card = rows(BillLineItem, bill_id=bill.id)
    assert (cable.zoho_line_item_id, cable.zoho_item_id, cable.quantity, cable.rate, cable.item_total) == (
        "2646610000092000111", "2646610000000081876", Decimal(24), Decimal(16000), Decimal(384000))
    assert card.description == "256GB microSDXC" and card.item_order == 2


def test_credit_note_detail_lands_with_lines_naming_their_invoice(db):
    sync("credit-notes", {"creditnote": detail("credit_notes_detail", "creditnote")})

    cn = one(CreditNote)
    assert cn.zoho_creditnote_id == "2646610000093000201"
    assert cn.creditnote_number == "CN-000029"
    assert cn.creditnote_date == dt.date(2025, 11, 12)
    assert cn.due_date is None
    assert cn.zoho_customer_id == "2646610000000080129" and cn.customer_name == "Al-Hadi Electronics"
    assert cn.status == "open" and cn.reason == "Damaged in transit"
    assert (cn.total, cn.balance) == (Decimal(271000), Decimal(271000))
    assert cn.zoho_location_id == "2646610000000080011"
    assert cn.shipping_city is None  # all-empty shipping address

    returned, unopened = rows(CreditNoteLineItem, credit_note_id=cn.id)
    assert returned.zoho_invoice_id == "2646610000091234501"
    assert unopened.zoho_invoice_id is None
    assert (returned.quantity, returned.rate, returned.item_total) == (Decimal(4), Decimal(4750), Decimal(19000))


def test_sales_order_detail_lands_with_percent_discount_shipment_date_and_line_quantities(db):
    sync("sales-orders", {"salesorder": detail("sales_orders_detail", "salesorder")})

    so = one(SalesOrder)
    assert so.zoho_salesorder_id == "2646610000094000301" and so.salesorder_number == "SO-000311"
    assert so.salesorder_date == dt.date(2025, 11, 2) and so.shipment_date == dt.date(2025, 11, 9)
    assert so.status == "confirmed"
    assert (so.order_status, so.invoiced_status, so.paid_status, so.shipped_status) == (
        "confirmed", "partially_invoiced", "unpaid", "pending")
    assert so.discount == Decimal(10) and so.discount_type == "percentage"  # "10.00%"
    assert so.discount_total == Decimal("11.56")
    assert (so.sub_total, so.total) == (Decimal("115.64"), Decimal("104.08"))
    assert so.balance is None  # sales orders have none
    assert so.zoho_customer_id == "2646610000000080392" and so.customer_name == "Zainab Al-Jubouri"
    assert so.exchange_rate == Decimal(1310)

    extender, cable = rows(SalesOrderLineItem, sales_order_id=so.id)
    assert (extender.quantity, extender.quantity_invoiced, extender.quantity_shipped) == (
        Decimal(2), Decimal(1), Decimal(0))
    assert extender.rate == Decimal("55.53") and extender.item_total == Decimal("111.06")
    assert cable.zoho_line_item_id == "2646610000094000312"


def test_purchase_order_detail_lands_with_delivery_date_and_received_quantities(db):
    sync("purchase-orders", {"purchaseorder": detail("purchase_orders_detail", "purchaseorder")})

    po = one(PurchaseOrder)
    assert po.zoho_purchaseorder_id == "2646610000092000001" and po.purchaseorder_number == "PO-000088"
    assert po.purchaseorder_date == dt.date(2025, 10, 20) and po.delivery_date == dt.date(2025, 11, 19)
    assert (po.status, po.billed_status, po.received_status) == ("issued", "partially_billed", "partially_received")
    assert po.zoho_vendor_id == "2646610000000080593"
    assert po.total == Decimal(768000)
    assert po.notes == "Deliver to the main warehouse gate 2"

    (line,) = rows(PurchaseOrderLineItem, purchase_order_id=po.id)
    assert (line.quantity, line.quantity_received, line.quantity_billed) == (Decimal(48), Decimal(24), Decimal(24))


# --- behaviours shared by every document --------------------------------------------------------


@by_entity
def test_list_row_alone_lands_a_header_without_lines(db, doc):
    row = list_row(f"{doc.fixture}_list_row", doc.list_key)
    sync(doc.entity, {doc.key: row})

    header = doc.header()
    assert getattr(header, doc.zoho_key) == row[doc.id_field]
    assert isinstance(getattr(header, f"zoho_{doc.party}_id"), str)
    assert header.total == Decimal(str(row["total"]))
    assert doc.lines(header.id) == []


@by_entity
def test_list_row_after_the_detail_keeps_the_lines(db, doc):
    sync(doc.entity, {doc.key: doc.record()})
    before = [(line.id, line.zoho_line_item_id) for line in doc.lines(doc.header().id)]

    sync(doc.entity, {doc.key: list_row(f"{doc.fixture}_list_row", doc.list_key)})

    assert [(line.id, line.zoho_line_item_id) for line in doc.lines(doc.header().id)] == before
    assert before


def test_list_row_reads_zipcode_and_numeric_json_ids(db):
    sync("invoices", {"invoice": list_row("invoices_list_row", "invoices")})
    assert one(Invoice).billing_zip == "61001"
    sync("bills", {"bill": list_row("bills_list_row", "bills")})
    assert one(Bill).zoho_vendor_id == "2646610000000080593"  # sent as a JSON number


@by_entity
def test_new_version_replaces_the_line_set_and_kept_lines_keep_their_rows(db, doc):
    v1 = doc.record()
    sync(doc.entity, {doc.key: v1})
    parent = doc.header()
    first = {line.zoho_line_item_id: line.id for line in doc.lines(parent.id)}

    v2 = doc.record()
    v2["last_modified_time"] = _later(v1)
    lines = v2["line_items"]
    removed = lines.pop() if len(lines) > 1 else None
    lines[0]["quantity"] = 99
    lines[0]["item_total"] = 1234.5
    lines.append({"line_item_id": "2646610000099999999", "item_id": "2646610000000081426",
                  "name": "TP-Link USB WiFi Adapter AX900", "sku": "NET-TP--00026", "item_order": 9,
                  "quantity": 1, "rate": 39250, "item_total": 39250, "unit": "pcs"})
    assert sync(doc.entity, {doc.key: v2}).applied == 1

    now = {line.zoho_line_item_id: line for line in doc.lines(parent.id)}
    kept = lines[0]["line_item_id"]
    assert now[kept].id == first[kept]  # same row, updated in place
    assert now[kept].quantity == Decimal(99) and now[kept].item_total == Decimal("1234.5")
    if removed:
        assert removed["line_item_id"] not in now
    assert now["2646610000099999999"].rate == Decimal(39250)
    assert set(now) == {line["line_item_id"] for line in lines}
    assert doc.header().id == parent.id


@by_entity
def test_an_older_version_arriving_late_changes_nothing(db, doc):
    old = doc.record()
    new = doc.record()
    new["last_modified_time"] = _later(old)
    new["status"] = "closed"
    new["line_items"] = new["line_items"][:1]

    sync(doc.entity, {doc.key: new})
    result = sync(doc.entity, {doc.key: old})

    assert (result.applied, result.stale) == (0, 1)
    header = doc.header()
    assert header.status == "closed"
    assert len(doc.lines(header.id)) == 1


@by_entity
def test_applying_the_same_record_twice_leaves_the_same_rows(db, doc):
    def snapshot():
        header = doc.header()
        cols = [c.name for c in doc.model.__table__.columns if c.name != "last_synced_at"]
        line_cols = [c.name for c in doc.line_model.__table__.columns]
        return ({c: getattr(header, c) for c in cols},
                [{c: getattr(line, c) for c in line_cols} for line in doc.lines(header.id)])

    sync(doc.entity, {doc.key: doc.record()})
    first = snapshot()
    sync(doc.entity, {doc.key: doc.record()})
    assert snapshot() == first


@by_entity
def test_delete_marks_the_document_inactive_and_keeps_its_lines(db, doc):
    record = doc.record()
    sync(doc.entity, {doc.key: record})
    sync(doc.entity, {doc.key: {doc.id_field: record[doc.id_field]}}, operation="delete")

    header = doc.header()
    assert header.is_active is False
    assert header.total == Decimal(str(record["total"]))
    assert len(doc.lines(header.id)) == len(record["line_items"])

    # a late copy of the same version does not bring it back
    assert sync(doc.entity, {doc.key: doc.record()}).stale == 1
    assert doc.header().is_active is False


@by_entity
def test_delete_of_a_document_never_seen_leaves_an_inactive_row(db, doc):
    sync(doc.entity, {doc.key: {doc.id_field: "2646610000077777777"}}, operation="delete")
    header = doc.header()
    assert getattr(header, doc.zoho_key) == "2646610000077777777" and header.is_active is False


@by_entity
def test_void_status_is_a_status_not_a_delete(db, doc):
    record = doc.record()
    record["status"] = "void"
    sync(doc.entity, {doc.key: record})
    header = doc.header()
    assert header.status == "void" and header.is_active is True


@by_entity
def test_document_arrives_before_its_customer_or_vendor_and_products(db, doc):
    record = doc.record()
    sync(doc.entity, {doc.key: record})

    party_model = Customer if doc.party == "customer" else Vendor
    assert rows(party_model) == []
    header = doc.header()
    assert getattr(header, f"zoho_{doc.party}_id") == record[f"{doc.party}_id"]
    assert {line.zoho_item_id for line in doc.lines(header.id)} == {line["item_id"] for line in record["line_items"]}


@by_entity
def test_lines_without_line_item_id_get_stable_synthetic_keys(db, doc):
    record = doc.record()
    for line in record["line_items"]:
        del line["line_item_id"]
    record["line_items"].append({"name": "Delivery", "rate": 5, "quantity": 1, "item_total": 5})  # no item_order
    sync(doc.entity, {doc.key: record})
    header = doc.header()
    first = {line.zoho_line_item_id: line.id for line in doc.lines(header.id)}

    n = len(record["line_items"])
    expected = {f"idx:{line['item_order']}" for line in record["line_items"][:-1]} | {f"idx:{n}"}
    assert set(first) == expected

    record["last_modified_time"] = _later(record)
    sync(doc.entity, {doc.key: record})
    assert {line.zoho_line_item_id: line.id for line in doc.lines(header.id)} == first


@by_entity
def test_an_empty_line_list_removes_every_line(db, doc):
    record = doc.record()
    sync(doc.entity, {doc.key: record})
    record["line_items"] = []
    record["last_modified_time"] = _later(record)
    sync(doc.entity, {doc.key: record})
    assert doc.lines(doc.header().id) == []


# --- the schema at the edge ---------------------------------------------------------------------


@by_entity
def test_schema_requires_only_the_id_and_ignores_unknown_fields(doc):
    schema = get_entity(doc.entity).validator
    schema.load({doc.id_field: "2646610000000000001", "something_new": {"x": 1}})
    with pytest.raises(ValidationError) as err:
        schema.load({"total": 1})
    assert doc.id_field in err.value.messages


@by_entity
def test_schema_refuses_wrong_types_in_header_and_lines(doc):
    schema = get_entity(doc.entity).validator
    with pytest.raises(ValidationError) as err:
        schema.load({doc.id_field: "1", "total": {"amount": 3}, "date": 20251104,
                     "line_items": [{"quantity": "lots", "line_item_id": ["x"]}]})
    messages = err.value.messages
    assert {"total", "date", "line_items"} <= set(messages)
    assert {"quantity", "line_item_id"} <= set(messages["line_items"][0])

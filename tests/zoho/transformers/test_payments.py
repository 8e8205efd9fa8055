"""Payments: customer vs vendor payments in one table, with their applications to invoices or bills."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal

from models.erp import Payment, PaymentApplication
from tests.zoho.transformers.support import PLUS3, detail, fixture, list_row, one, rows, sync


def _apps(payment_id: int) -> dict[str, PaymentApplication]:
    return {a.zoho_document_id: a for a in rows(PaymentApplication, payment_id=payment_id)}


def test_customer_payment_lands_column_by_column_with_invoice_applications(db):
    sync("payments", fixture("payments_detail"))

    p = one(Payment)
    assert p.zoho_payment_id == "2646610000095000401"
    assert p.payment_type == "customer"
    assert p.payment_number == "PR-000215"
    assert p.payment_date == dt.date(2025, 11, 5)
    assert p.payment_mode == "banktransfer"
    assert p.amount == Decimal("350.5") and isinstance(p.amount, Decimal)
    assert p.bcy_amount == Decimal(459155)
    assert p.unused_amount == Decimal("49.61")
    assert p.bank_charges == Decimal("0.75")
    assert p.amount_refunded == Decimal(0)
    assert p.currency_code == "USD" and p.exchange_rate == Decimal(1310)
    assert p.reference_number == "TRX384704"
    assert p.description == "Payment for INV-001842 and INV-001795"
    assert p.zoho_customer_id == "2646610000000080129" and p.customer_name == "Al-Hadi Electronics"
    assert p.zoho_vendor_id is None and p.vendor_name is None
    assert p.zoho_account_id == "2646610000000002009" and p.account_name == "Rafidain Bank USD"
    assert p.status == "success" and p.is_active is True
    assert p.zoho_last_modified_at == dt.datetime(2025, 11, 5, 9, 15, 40, tzinfo=PLUS3)

    apps = _apps(p.id)
    assert set(apps) == {"2646610000091234501", "2646610000091230077"}
    first = apps["2646610000091234501"]
    assert first.document_type == "invoice" and first.document_number == "INV-001842"
    assert first.document_date == dt.date(2025, 11, 4)
    assert first.amount_applied == Decimal(100)
    assert (first.document_total, first.document_balance) == (Decimal("300.89"), Decimal("200.89"))
    assert apps["2646610000091230077"].amount_applied == Decimal("200.89")


def test_vendor_payment_lands_with_bill_applications(db):
    sync("payments", fixture("vendor_payments_detail"))

    p = one(Payment)
    assert p.zoho_payment_id == "2646610000096000501"
    assert p.payment_type == "vendor"
    assert p.zoho_vendor_id == "2646610000000080593" and p.vendor_name == "Anatolia Company for Computers"
    assert p.zoho_customer_id is None
    assert p.amount == Decimal(400000) and p.unused_amount is None  # ""
    assert p.payment_date == dt.date(2025, 11, 10) and p.payment_mode == "check"
    assert p.zoho_account_id == "2646610000000002011" and p.account_name == "Petty Cash"

    (app,) = _apps(p.id).values()
    assert app.zoho_document_id == "2646610000092000101" and app.document_type == "bill"
    assert app.document_number == "BILL-000417"
    assert (app.amount_applied, app.document_total, app.document_balance) == (
        Decimal(400000), Decimal(669000), Decimal(269000))


def test_a_record_with_a_vendor_and_no_customer_under_payment_is_a_vendor_payment(db):
    record = detail("vendor_payments_detail", "vendorpayment")
    sync("payments", {"payment": record})
    assert one(Payment).payment_type == "vendor"


def test_customer_and_vendor_payments_live_side_by_side(db):
    sync("payments", fixture("payments_detail"))
    sync("payments", fixture("vendor_payments_detail"))
    kinds = {p.zoho_payment_id: p.payment_type for p in rows(Payment)}
    assert kinds == {"2646610000095000401": "customer", "2646610000096000501": "vendor"}
    assert len(rows(PaymentApplication)) == 3


def test_list_rows_land_headers_and_keep_applications(db):
    sync("payments", fixture("payments_detail"))
    before = {z: a.id for z, a in _apps(one(Payment).id).items()}
    sync("payments", {"payment": list_row("payments_list_row", "customerpayments")})
    assert {z: a.id for z, a in _apps(one(Payment).id).items()} == before

    sync("payments", {"vendorpayment": list_row("vendor_payments_list_row", "vendorpayments")})
    vendor = one(Payment, zoho_payment_id="2646610000096000501")
    assert vendor.payment_type == "vendor" and vendor.account_name == "Petty Cash"
    assert _apps(vendor.id) == {}


def test_new_version_replaces_applications_keeping_rows_of_kept_invoices(db):
    sync("payments", fixture("payments_detail"))
    p = one(Payment)
    first = {z: a.id for z, a in _apps(p.id).items()}
    record = detail("payments_detail", "payment")
    record["last_modified_time"] = "2025-11-06T10:00:00+0300"
    record["invoices"].pop()  # unapplied from INV-001795
    record["invoices"][0]["amount_applied"] = 150
    record["unused_amount"] = 200.5
    sync("payments", {"payment": record})

    apps = _apps(p.id)
    assert set(apps) == {"2646610000091234501"}
    assert apps["2646610000091234501"].id == first["2646610000091234501"]
    assert apps["2646610000091234501"].amount_applied == Decimal(150)
    assert one(Payment).unused_amount == Decimal("200.5")


def test_older_version_and_repeats_change_nothing(db):
    sync("payments", fixture("payments_detail"))
    old = detail("payments_detail", "payment")
    old["last_modified_time"] = "2025-11-04T10:00:00+0300"
    old["amount"] = 1
    assert sync("payments", {"payment": old}).stale == 1
    sync("payments", fixture("payments_detail"))
    assert one(Payment).amount == Decimal("350.5")
    assert len(rows(PaymentApplication)) == 2


def test_delete_marks_the_payment_inactive(db):
    sync("payments", fixture("vendor_payments_detail"))
    sync("payments", {"vendorpayment": {"payment_id": "2646610000096000501"}}, operation="delete")
    p = one(Payment)
    assert p.is_active is False and p.payment_type == "vendor"
    assert len(rows(PaymentApplication)) == 1

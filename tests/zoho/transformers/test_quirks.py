"""Zoho's quirks across all nine entities: timestamp forms, `""` numbers, body keys; and models match migrations."""
from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import BigInteger, Integer, Numeric, inspect

from models import metadata
from models.base import Base
from models.erp import (
    Bill,
    CreditNote,
    Invoice,
    Payment,
    PriceList,
    PurchaseOrder,
    SalesOrder,
    StockLevel,
    Warehouse,
)
from tests.zoho.transformers.support import PLUS3, detail, rows, sync
from zoho.entities import entity_names, get_entity

UTC = dt.timezone.utc
ERP_MODELS = [m.class_ for m in Base.registry.mappers if m.class_.__module__ == "models.erp"]

# entity, detail fixture, body key, the table whose row carries the version
ENTITIES = [
    ("invoices", "invoices_detail", "invoice", Invoice),
    ("bills", "bills_detail", "bill", Bill),
    ("credit-notes", "credit_notes_detail", "creditnote", CreditNote),
    ("sales-orders", "sales_orders_detail", "salesorder", SalesOrder),
    ("purchase-orders", "purchase_orders_detail", "purchaseorder", PurchaseOrder),
    ("payments", "payments_detail", "payment", Payment),
    ("payments", "vendor_payments_detail", "vendorpayment", Payment),
    ("prices", "prices_detail", "pricebook", PriceList),
    ("warehouses", "warehouses_detail", "location", Warehouse),
    ("warehouses", "warehouses_legacy_detail", "warehouse", Warehouse),
    ("stock", "stock_detail", "item", StockLevel),
    ("stock", "stock_legacy_detail", "item", StockLevel),
]
each_entity = pytest.mark.parametrize("entity, name, key, model", ENTITIES, ids=[e[1] for e in ENTITIES])

FORMS = [
    ("2025-11-04", dt.datetime(2025, 11, 4, tzinfo=UTC)),
    ("2025-11-04T21:52:11+0300", dt.datetime(2025, 11, 4, 21, 52, 11, tzinfo=PLUS3)),
    ("2025-11-04T21:52:11+03:00", dt.datetime(2025, 11, 4, 21, 52, 11, tzinfo=PLUS3)),
    ("2015-05-29 00:00:00+00:00", dt.datetime(2015, 5, 29, tzinfo=UTC)),
    ("", None),
]


@each_entity
@pytest.mark.parametrize("raw, expected", FORMS, ids=[f[0] or "empty" for f in FORMS])
def test_every_zoho_timestamp_form_lands_as_an_aware_datetime_or_null(db, entity, name, key, model, raw, expected):
    record = detail(name, key)
    record["last_modified_time"] = raw
    record["created_time"] = raw
    record.pop("updated_time", None)
    sync(entity, {key: record})

    landed = rows(model)
    assert landed
    for row in landed:
        assert row.zoho_last_modified_at == expected
        if expected is not None:
            assert row.zoho_last_modified_at.tzinfo is not None


def test_a_document_date_sent_as_a_timestamp_keeps_its_calendar_day(db):
    record = detail("invoices_detail", "invoice")
    record["date"] = "2025-11-04T23:30:00+0300"
    record["due_date"] = ""
    sync("invoices", {"invoice": record})
    (inv,) = rows(Invoice)
    assert inv.invoice_date == dt.date(2025, 11, 4) and inv.due_date is None


STRING_NUMBERS = {"discount", "pricebook_discount"}  # numbers Zoho sends as text: "10", "10%", "5.00%"


def _blank_numbers(value: Any, key: str = "") -> Any:
    """Every number (JSON numbers, and the ones Zoho sends as text) replaced by Zoho's empty value `""`."""
    if isinstance(value, dict):
        return {k: _blank_numbers(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_blank_numbers(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return ""
    if key in STRING_NUMBERS:
        return ""
    return value


def _number_columns(model: type) -> list[str]:
    return [c.name for c in model.__table__.columns
            if isinstance(c.type, (Numeric, Integer)) and not isinstance(c.type, BigInteger)
            and c.name != "tax_amount"]  # a line with no taxes has tax 0, not NULL


@each_entity
def test_empty_strings_in_every_numeric_field_land_as_null(db, entity, name, key, model):
    record = _blank_numbers(detail(name, key))
    result = sync(entity, {key: record})
    assert result.applied >= 1

    checked = 0
    for mapped in ERP_MODELS:
        for row in rows(mapped):
            for column in _number_columns(mapped):
                assert getattr(row, column) is None, f"{mapped.__tablename__}.{column}"
                checked += 1
    assert checked or model is Warehouse


@pytest.mark.parametrize("entity, body_key, id_field", [
    ("invoices", "invoice", "invoice_id"), ("bills", "bill", "bill_id"),
    ("credit-notes", "creditnote", "creditnote_id"), ("sales-orders", "salesorder", "salesorder_id"),
    ("purchase-orders", "purchaseorder", "purchaseorder_id"), ("prices", "pricebook", "pricebook_id"),
    ("warehouses", "warehouse", "warehouse_id"), ("warehouses", "location", "location_id"),
    ("payments", "payment", "payment_id"), ("payments", "vendorpayment", "payment_id"), ("stock", "item", "item_id"),
])
def test_each_entity_reads_its_records_under_zohos_body_key(entity, body_key, id_field):
    ent = get_entity(entity)
    found = ent.unwrap({body_key: {id_field: "2646610000000000042", "extra": 1}})
    assert found is not None and found[0] == body_key
    assert ent.record_id(found[1]) == "2646610000000000042"


def test_every_contract_entity_is_registered():
    assert set(entity_names()) == {
        "products", "customers", "vendors", "contacts", "invoices", "bills", "credit-notes", "stock", "prices",
        "warehouses", "payments", "sales-orders", "purchase-orders",
        "inventory-adjustments", "transfer-orders", "composite-items", "item-groups", "vendor-credits",
    }


def test_migrations_create_exactly_the_tables_the_models_describe(db):
    """`alembic check` in a test: autogenerate finds nothing between head and the models."""
    with db.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == []
    assert {"invoice_line_items", "stock_levels", "price_list_items", "payment_applications"} <= tables

"""Zoho's own documented examples land: every response example of every module the engine reads.

Each example is rendered mechanically from `zoho-openapi/*.yml` (`openapi_examples.py`: only
Zoho's `example` values, `$ref`s followed), unwrapped and checked as the receiver does
(`Entity.unwrap` / the list keys a pull reads, then `Entity.check`: no fatal error) and run
through the entity's transformer. The tables below say where each documented property lands
in the ERP; a mapped property that Zoho's example fills in must arrive in the transformer's
output (a non-null column on a row of that table). Pure functions: no database.

Adding a module is one row of `MODULES` and, for its columns, one mapping table.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from models.records import Record
from tests.zoho.openapi_examples import Example, examples
from zoho.entities import envelope_keys, get_entity
from zoho.fields import pick_address
from zoho.mapper import TransformContext
from zoho.transformers.contacts import contact_person_records

# ------------------------------------------------------------------------------ mapping tables
# spec property path → "table.column". `a[].b`: property b of every entry of array a;
# `a.b`: property b of object a (an array of objects: the default entry, else the first);
# "t1|t2.col": the row lands in one of the tables (contacts are filed by contact_type).


def _address(prefix: str, table: str) -> list[tuple[str, str]]:
    parts = ("attention", "address", "street2", "city", "state", "zip", "country", "phone")
    return [(f"{prefix}_address.{p}", f"{table}.{prefix}_{p}") for p in parts]


def _document(prefix: str, table: str, lines: str, party: str) -> list[tuple[str, str]]:
    """What every document maps: header, addresses, custom fields, and its lines."""
    header = [
        (f"{prefix}_id", f"zoho_{prefix}_id"), (f"{prefix}_number", f"{prefix}_number"), ("date", f"{prefix}_date"),
        ("due_date", "due_date"), ("status", "status"), ("currency_code", "currency_code"),
        ("exchange_rate", "exchange_rate"), ("sub_total", "sub_total"), ("tax_total", "tax_total"),
        ("total", "total"), ("balance", "balance"), ("discount", "discount"), ("discount", "discount_type"),
        ("discount_amount", "discount_amount"), ("is_inclusive_tax", "is_inclusive_tax"),
        ("shipping_charge", "shipping_charge"), ("adjustment", "adjustment"),
        ("reference_number", "reference_number"), ("payment_terms", "payment_terms"),
        ("payment_terms_label", "payment_terms_label"), ("location_id", "zoho_location_id"),
        ("location_name", "location_name"), ("notes", "notes"), ("terms", "terms"),
        ("created_time", "zoho_created_at"), ("last_modified_time", "zoho_last_modified_at"),
        ("custom_fields", "custom_fields"), (f"{party}_id", f"zoho_{party}_id"), (f"{party}_name", f"{party}_name"),
    ]
    line = [
        ("line_item_id", "zoho_line_item_id"), ("item_id", "zoho_item_id"), ("name", "name"),
        ("description", "description"), ("sku", "sku"), ("unit", "unit"), ("quantity", "quantity"),
        ("rate", "rate"), ("bcy_rate", "bcy_rate"), ("discount", "discount"), ("discount_amount", "discount_amount"),
        ("tax_name", "tax_name"), ("tax_percentage", "tax_percentage"), ("item_total", "item_total"),
        ("item_order", "item_order"), ("location_id", "zoho_location_id"), ("location_name", "location_name"),
        ("warehouse_id", "zoho_location_id"), ("warehouse_name", "location_name"),
    ]
    return ([(prop, f"{table}.{col}") for prop, col in header] + _address("billing", table)
            + _address("shipping", table) + [(f"line_items[].{prop}", f"{lines}.{col}") for prop, col in line])


CONTACT = "customers|vendors"
CONTACTS = [
    ("contact_id", f"{CONTACT}.zoho_contact_id"), ("contact_name", f"{CONTACT}.name"),
    ("company_name", f"{CONTACT}.company_name"), ("contact_type", f"{CONTACT}.contact_type"),
    ("first_name", f"{CONTACT}.first_name"), ("last_name", f"{CONTACT}.last_name"),
    ("email", f"{CONTACT}.email"), ("phone", f"{CONTACT}.phone"), ("mobile", f"{CONTACT}.mobile"),
    ("website", f"{CONTACT}.website"), ("status", f"{CONTACT}.status"),
    ("currency_code", f"{CONTACT}.currency_code"), ("payment_terms", f"{CONTACT}.payment_terms"),
    ("payment_terms_label", f"{CONTACT}.payment_terms_label"), ("credit_limit", f"{CONTACT}.credit_limit"),
    ("notes", f"{CONTACT}.notes"), ("gst_no", f"{CONTACT}.tax_number"),
    ("outstanding_receivable_amount", "customers.outstanding_receivable"),
    ("unused_credits_receivable_amount", "customers.unused_credits"),
    ("outstanding_payable_amount", "vendors.outstanding_payable"),
    ("unused_credits_payable_amount", "vendors.unused_credits"),
    ("custom_fields", f"{CONTACT}.custom_fields"), ("last_modified_time", f"{CONTACT}.zoho_last_modified_at"),
    *_address("billing", CONTACT), *_address("shipping", CONTACT),
    ("contact_persons[].first_name", f"{CONTACT}.contact_person_name"),
    ("contact_persons[].email", f"{CONTACT}.contact_person_email"),
    ("contact_persons[].phone", f"{CONTACT}.contact_person_phone"),
    ("contact_persons[].mobile", f"{CONTACT}.contact_person_mobile"),
    *[(f"contact_persons[].{c}", f"contact_persons.{c}") for c in
      ("salutation", "first_name", "last_name", "email", "phone", "mobile", "designation", "department",
       "is_primary_contact")],
    ("contact_persons[].contact_person_id", "contact_persons.zoho_contact_person_id"),
]

CONTACT_PERSONS = [
    ("contact_person_id", "contact_persons.zoho_contact_person_id"), ("contact_id", "contact_persons.zoho_contact_id"),
    *[(c, f"contact_persons.{c}") for c in ("salutation", "first_name", "last_name", "email", "phone", "mobile",
                                             "designation", "department", "is_primary_contact")],
]

PRODUCTS = [
    ("item_id", "products.zoho_item_id"), ("name", "products.name"), ("description", "products.description"),
    ("sku", "products.sku"), ("unit", "products.unit"), ("brand", "products.brand"),
    ("category_name", "products.category_name"), ("rate", "products.unit_price"),
    ("purchase_rate", "products.cost_price"), ("status", "products.status"), ("item_type", "products.item_type"),
    ("product_type", "products.product_type"), ("reorder_level", "products.reorder_level"),
    ("tax_percentage", "products.tax_percentage"), ("image_name", "products.image_name"),
    ("ean", "products.ean"), ("upc", "products.upc"), ("isbn", "products.isbn"),
    ("part_number", "products.part_number"), ("ean", "products.barcode"), ("upc", "products.barcode"),
    ("isbn", "products.barcode"), ("stock_on_hand", "products.stock_on_hand"),
    ("available_stock", "products.available_stock"), ("custom_fields", "products.custom_fields"),
    ("last_modified_time", "products.zoho_last_modified_at"),
]

STOCK = [
    ("locations[].location_id", "stock_levels.zoho_warehouse_id"),
    ("locations[].location_stock_on_hand", "stock_levels.stock_on_hand"),
    ("locations[].location_available_stock", "stock_levels.available_stock"),
    ("locations[].location_actual_available_stock", "stock_levels.actual_available_stock"),
    ("warehouses[].warehouse_id", "stock_levels.zoho_warehouse_id"),
    ("warehouses[].warehouse_stock_on_hand", "stock_levels.stock_on_hand"),
    ("warehouses[].warehouse_available_stock", "stock_levels.available_stock"),
]

INVOICES = _document("invoice", "invoices", "invoice_line_items", "customer") + [
    ("payment_made", "invoices.payment_made"), ("credits_applied", "invoices.credits_applied"),
    ("salesorder_id", "invoices.zoho_salesorder_id"), ("salesperson_name", "invoices.salesperson_name"),
    ("tds_amount", "invoices.tds_amount"), ("tax_amount_withheld", "invoices.tds_amount"),
    ("tds_tax_id", "invoices.tds_tax_id"),
]
BILLS = _document("bill", "bills", "bill_line_items", "vendor") + [
    ("payment_made", "bills.payment_made"), ("tds_amount", "bills.tds_amount"), ("tds_tax_id", "bills.tds_tax_id"),
    ("line_items[].purchase_rate", "bill_line_items.rate"),
]
CREDIT_NOTES = _document("creditnote", "credit_notes", "credit_note_line_items", "customer") + [
    ("reason", "credit_notes.reason"), ("line_items[].invoice_id", "credit_note_line_items.zoho_invoice_id"),
]
SALES_ORDERS = _document("salesorder", "sales_orders", "sales_order_line_items", "customer") + [
    ("shipment_date", "sales_orders.shipment_date"), ("order_status", "sales_orders.order_status"),
    ("invoiced_status", "sales_orders.invoiced_status"), ("paid_status", "sales_orders.paid_status"),
    ("shipped_status", "sales_orders.shipped_status"), ("salesperson_name", "sales_orders.salesperson_name"),
    *[(f"line_items[].{c}", f"sales_order_line_items.{c}") for c in
      ("quantity_invoiced", "quantity_packed", "quantity_shipped")],
]
PURCHASE_ORDERS = _document("purchaseorder", "purchase_orders", "purchase_order_line_items", "vendor") + [
    ("delivery_date", "purchase_orders.delivery_date"), ("order_status", "purchase_orders.order_status"),
    ("billed_status", "purchase_orders.billed_status"), ("received_status", "purchase_orders.received_status"),
    ("line_items[].purchase_rate", "purchase_order_line_items.rate"),
    *[(f"line_items[].{c}", f"purchase_order_line_items.{c}") for c in ("quantity_received", "quantity_billed")],
]

PAYMENTS = [
    *[(p, f"payments.{c}") for p, c in (
        ("payment_id", "zoho_payment_id"), ("payment_number", "payment_number"), ("date", "payment_date"),
        ("payment_mode", "payment_mode"), ("status", "status"), ("amount", "amount"), ("bcy_amount", "bcy_amount"),
        ("unused_amount", "unused_amount"), ("bank_charges", "bank_charges"), ("amount_refunded", "amount_refunded"),
        ("currency_code", "currency_code"), ("exchange_rate", "exchange_rate"),
        ("reference_number", "reference_number"), ("description", "description"),
        ("customer_id", "zoho_customer_id"), ("customer_name", "customer_name"), ("vendor_id", "zoho_vendor_id"),
        ("vendor_name", "vendor_name"), ("account_id", "zoho_account_id"), ("account_name", "account_name"),
        ("custom_fields", "custom_fields"), ("last_modified_time", "zoho_last_modified_at"))],
    *[(f"invoices[].{p}", f"payment_applications.{c}") for p, c in (
        ("invoice_id", "zoho_document_id"), ("invoice_number", "document_number"), ("date", "document_date"),
        ("invoice_amount", "document_total"), ("balance_amount", "document_balance"),
        ("amount_applied", "amount_applied"))],
]

PRICES = [
    *[(p, f"price_lists.{c}") for p, c in (
        ("pricebook_id", "zoho_pricebook_id"), ("name", "name"), ("description", "description"),
        ("currency_code", "currency_code"), ("pricebook_type", "pricebook_type"), ("pricing_scheme", "pricing_scheme"),
        ("sales_or_purchase_type", "sales_or_purchase_type"), ("percentage", "percentage"),
        ("is_increase", "is_increase"), ("rounding_type", "rounding_type"), ("decimal_place", "decimal_place"),
        ("is_default", "is_default"), ("status", "status"), ("custom_fields", "custom_fields"))],
    *[(f"pricebook_items[].{p}", f"price_list_items.{c}") for p, c in (
        ("item_id", "zoho_item_id"), ("pricebook_item_id", "zoho_pricebook_item_id"), ("name", "name"),
        ("sku", "sku"), ("pricebook_rate", "pricebook_rate"), ("pricebook_discount", "discount"),
        ("price_brackets", "price_brackets"))],
]

WAREHOUSES = [
    *[(p, f"warehouses.{c}") for p, c in (
        ("location_id", "zoho_warehouse_id"), ("warehouse_id", "zoho_warehouse_id"), ("location_name", "name"),
        ("warehouse_name", "name"), ("type", "location_type"), ("parent_location_id", "zoho_parent_location_id"),
        ("is_primary_location", "is_primary"), ("is_primary", "is_primary"), ("status", "status"),
        ("is_location_active", "status"), ("email", "email"), ("phone", "phone"),
        ("custom_fields", "custom_fields"), ("address.attention", "attention"),
        ("address.street_address1", "address"), ("address.street_address2", "street2"), ("address.city", "city"),
        ("address.state", "state"), ("address.state_code", "state_code"), ("address.zip", "zip"),
        ("address.country", "country"))],
]

# ------------------------------------------------------------------------------ the modules


def _person_records(person: dict[str, Any], ctx: TransformContext) -> list[Record]:
    return contact_person_records(person, ctx)


@dataclass(frozen=True)
class Module:
    """One spec file and what reads its records: registry entities, or a plain transformer
    (`records`: body key → transform) for records no route receives on their own."""

    spec: str
    entities: tuple[tuple[str, list[tuple[str, str]]], ...] = ()
    records: tuple[tuple[tuple[str, ...], Callable[[dict, TransformContext], list[Record]],
                         list[tuple[str, str]]], ...] = field(default=())


MODULES = [
    Module("items.yml", (("products", PRODUCTS), ("stock", STOCK))),
    Module("contacts.yml", (("customers", CONTACTS), ("vendors", CONTACTS), ("contacts", CONTACTS))),
    Module("contact-persons.yml", records=((("contact_person", "contact_persons"), _person_records,
                                            CONTACT_PERSONS),)),
    Module("invoices.yml", (("invoices", INVOICES),)),
    Module("bills.yml", (("bills", BILLS),)),
    Module("credit-notes.yml", (("credit-notes", CREDIT_NOTES),)),
    Module("customer-payments.yml", (("payments", PAYMENTS),)),
    Module("salesorders.yml", (("sales-orders", SALES_ORDERS),)),
    Module("purchaseorders.yml", (("purchase-orders", PURCHASE_ORDERS),)),
    Module("pricelists.yml", (("prices", PRICES),)),
    Module("locations.yml", (("warehouses", WAREHOUSES),)),
]

# ------------------------------------------------------------------------------ machinery


@dataclass
class Case:
    """One documented record as one reader sees it."""

    example: Example
    reader: str
    body_key: str
    record: dict[str, Any]
    transform: Callable[[dict, TransformContext], list[Record]]
    mapping: list[tuple[str, str]]
    check: Callable[[dict], tuple[dict, list[str]]] | None = None

    @property
    def id(self) -> str:
        return f"{self.example.name}:{self.reader}:{self.body_key}"


def _records_of(body: dict[str, Any], keys: tuple[str, ...]) -> list[tuple[str, dict]]:
    out = []
    for key in keys:
        for spelling in envelope_keys(key):
            value = body.get(spelling)
            if isinstance(value, dict):
                out.append((spelling, value))
            elif isinstance(value, list):
                out.extend((spelling, v) for v in value if isinstance(v, dict))
    return out


def cases() -> list[Case]:
    found = []
    for module in MODULES:
        for ex in examples(module.spec):
            for name, mapping in module.entities:
                ent = get_entity(name)
                unwrapped = ent.unwrap(ex.body)  # a detail answer / webhook body, as the receiver reads it
                if unwrapped is not None and unwrapped[1] is not ex.body:
                    key, record = unwrapped
                    found.append(Case(ex, name, key, record, ent.to_records, mapping, ent.check))
                for source in ent.sources:  # a list answer, as a pull reads it
                    rows = source.rows_in(ex.body)
                    for row in rows if isinstance(rows, list) else []:
                        if isinstance(row, dict):
                            found.append(Case(ex, name, source.list_key, row, ent.to_records, mapping, ent.check))
            for keys, transform, mapping in module.records:
                for key, record in _records_of(ex.body, keys):
                    found.append(Case(ex, transform.__name__, key, record, transform, mapping))
    for i, case in enumerate(found):  # one id per case even where an example repeats a record
        case.example = Example(case.example.spec, case.example.operation, f"{case.example.status}#{i}",
                               case.example.body)
    return found


CASES = cases()


def _empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip()) or value == [] or value == {}


def _values(record: dict[str, Any], path: str) -> list[Any]:
    """The documented values at `path` (see the mapping tables' syntax)."""
    head, _, rest = path.partition(".")
    if head.endswith("[]"):
        entries = record.get(head[:-2])
        entries = entries if isinstance(entries, list) else []
        if not rest:
            return entries
        return [v for e in entries if isinstance(e, dict) for v in _values(e, rest)]
    if not rest:
        return [record[head]] if head in record else []
    inner = pick_address(record.get(head))
    return _values(inner, rest) if inner else []


def _tables(records: list[Record]) -> dict[str, list[dict[str, Any]]]:
    """Every row the transformer produced, by table: main rows, line sets, patches."""
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rec in records:
        out[rec.model.__tablename__].append(rec.values)
        for ch in rec.children:
            out[ch.model.__tablename__].extend(ch.rows)
        for patch in rec.patches:
            out[patch.model.__tablename__].append(patch.values)
    return out


def _arrived(tables: dict[str, list[dict]], target: str) -> bool:
    table_names, column = target.rsplit(".", 1)
    return any(row.get(column) is not None for t in table_names.split("|") for row in tables.get(t, []))


def _targets_written(tables: dict[str, list[dict]], target: str) -> bool:
    return any(t in tables for t in target.rsplit(".", 1)[0].split("|"))


def _transform(case: Case) -> tuple[list[Record], TransformContext]:
    ctx = TransformContext(entity=case.reader, record_key=case.body_key)
    return case.transform(case.record, ctx), ctx


def mapped_properties(case: Case) -> list[tuple[str, str]]:
    """The mapping entries this documented record fills in (non-empty example values)."""
    return [(path, target) for path, target in case.mapping
            if any(not _empty(v) for v in _values(case.record, path))]


# ------------------------------------------------------------------------------ the tests


def test_every_module_the_engine_reads_has_documented_examples():
    read = {m.spec for m in MODULES if any(c.example.spec == m.spec for c in CASES)}
    assert read == {m.spec for m in MODULES}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_zoho_documented_example_is_accepted_and_every_mapped_property_arrives(case):
    if case.check is not None:
        fatal, _warnings = case.check(case.record)
        assert not fatal, f"the receiver would refuse Zoho's own example: {fatal}"
    records, _ctx = _transform(case)
    assert records, "the transformer wrote nothing"
    tables = _tables(records)
    missing = [f"{path} → {target}" for path, target in mapped_properties(case)
               if _targets_written(tables, target) and not _arrived(tables, target)]
    assert not missing, f"documented properties that did not arrive: {missing}"


def test_every_mapping_target_is_a_column_of_its_table():
    """A typo in the tables above would otherwise make a check vacuous."""
    from models.base import Base

    columns = {t.name: set(t.c.keys()) for t in Base.metadata.tables.values()}
    bad = [target for m in MODULES for mapping in ([x for _, x in m.entities] + [x for *_, x in m.records])
           for _, target in mapping
           if any(target.rsplit(".", 1)[1] not in columns.get(t, set())
                  for t in target.rsplit(".", 1)[0].split("|"))]
    assert not bad


def test_documented_figures(capsys):
    """How many documented examples were tried and accepted, and how many mapped fields arrived."""
    tried = {c.example.name.rsplit("#", 1)[0] for c in CASES}
    accepted, arrived, warned = set(), 0, 0
    for case in CASES:
        if case.check is None or not case.check(case.record)[0]:
            records, ctx = _transform(case)
            tables = _tables(records)
            if records:
                accepted.add(case.example.name.rsplit("#", 1)[0])
            arrived += sum(1 for _, target in mapped_properties(case) if _arrived(tables, target))
            warned += bool(ctx.warnings) or bool(case.check and case.check(case.record)[1])
    mapped = sum(len(mapping) for m in MODULES for mapping in [x for _, x in m.entities] + [x for *_, x in m.records])
    with capsys.disabled():
        print(f"\nZoho documented examples: {len(tried)} tried, {len(accepted)} accepted; "
              f"{len(CASES)} records read; {arrived} mapped fields arrived "
              f"({mapped} spec property → ERP column entries); {warned} records with shape warnings")
    assert accepted == tried

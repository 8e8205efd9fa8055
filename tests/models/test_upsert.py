"""apply_records: newest version wins, re-applying changes nothing, deletes are tombstones."""
import datetime as dt
from decimal import Decimal

from sqlalchemy import select

from models.db import session_scope
from models.erp import Invoice, Product
from models.records import Record
from models.upsert import apply_records

T1 = dt.datetime(2025, 11, 4, 10, 0, tzinfo=dt.timezone.utc)
T2 = T1 + dt.timedelta(minutes=5)


def _product(zid="100", name="A", lmt=T1, **extra):
    return Record(Product, {"zoho_item_id": zid, "name": name, "zoho_last_modified_at": lmt, **extra})


def _row(zid="100"):
    with session_scope() as s:
        return s.execute(select(Product).where(Product.zoho_item_id == zid)).scalar_one()


def test_newer_version_overwrites_and_older_is_ignored(db):
    with session_scope() as s:
        assert apply_records(s, [_product(name="new", lmt=T2)]).applied == 1
    with session_scope() as s:
        res = apply_records(s, [_product(name="old", lmt=T1)])
    assert (res.applied, res.stale) == (0, 1)
    assert _row().name == "new"


def test_applying_the_same_record_twice_leaves_the_same_row(db):
    for _ in range(2):
        with session_scope() as s:
            apply_records(s, [_product(unit_price=Decimal("29.36"))])
    row = _row()
    assert row.unit_price == Decimal("29.36") and row.name == "A"
    with session_scope() as s:
        assert len(s.execute(select(Product)).all()) == 1


def test_delete_of_same_version_is_not_resurrected_by_a_late_upsert(db):
    with session_scope() as s:
        apply_records(s, [_product()])
    with session_scope() as s:
        apply_records(s, [Record(Product, {"zoho_item_id": "100", "is_active": False, "zoho_last_modified_at": T1})])
    with session_scope() as s:
        res = apply_records(s, [_product(name="late copy", is_active=True)])
    assert res.stale == 1
    row = _row()
    assert row.is_active is False and row.name == "A"


def test_a_batch_with_two_versions_of_one_record_keeps_the_newest(db):
    with session_scope() as s:
        apply_records(s, [_product(name="v2", lmt=T2), _product(name="v1", lmt=T1), _product("200", "B")])
    assert _row().name == "v2" and _row("200").name == "B"


def test_a_stock_level_for_an_unknown_location_creates_its_warehouse_with_its_name(db):
    """Bug: the placeholder warehouse stayed nameless until the hourly warehouses pull."""
    from models.erp import Warehouse
    from zoho.mapper import TransformContext
    from zoho.transformers.stock import transform

    item = {"item_id": "4600000000000000001", "last_modified_time": "2025-11-04T10:00:00+0300",
            "locations": [{"location_id": "4600000000000000901", "location_name": "Riyadh Main",
                           "location_stock_on_hand": "12", "location_available_stock": "10"}]}
    with session_scope() as s:
        apply_records(s, transform(item, TransformContext("stock")))
    with session_scope() as s:
        wh = s.execute(select(Warehouse).where(Warehouse.zoho_warehouse_id == "4600000000000000901")).scalar_one()
        assert wh.name == "Riyadh Main" and wh.zoho_last_modified_at is None  # still a placeholder: the pull wins


def _invoice(zid: str, lines: list[str], lmt=T1):
    from models.erp import InvoiceLineItem
    from models.records import Children

    rows = [{"zoho_line_item_id": line, "name": f"line {line}", "quantity": Decimal("1")} for line in lines]
    return Record(Invoice, {"zoho_invoice_id": zid, "zoho_last_modified_at": lmt},
                  children=[Children(InvoiceLineItem, "invoice_id", "zoho_line_item_id", rows)])


def _lines() -> dict[str, list[str]]:
    from models.erp import InvoiceLineItem

    with session_scope() as s:
        rows = s.execute(select(Invoice.zoho_invoice_id, InvoiceLineItem.zoho_line_item_id)
                         .join(InvoiceLineItem, InvoiceLineItem.invoice_id == Invoice.id)).all()
    out: dict[str, list[str]] = {}
    for zid, line in sorted(rows):
        out.setdefault(zid, []).append(line)
    return out


def test_the_line_sets_of_a_group_of_documents_are_replaced_in_two_statements_each_keeping_only_its_own(db):
    from sqlalchemy import event

    with session_scope() as s:
        apply_records(s, [_invoice("1", ["a", "b"]), _invoice("2", ["a", "c"]), _invoice("3", ["x"])])
    assert _lines() == {"1": ["a", "b"], "2": ["a", "c"], "3": ["x"]}
    statements: list[str] = []
    with session_scope() as s:
        conn = s.connection()
        event.listen(conn, "before_cursor_execute", lambda *a: statements.append(a[2].split()[0]))
        # 1 loses a line and gains one, 2 loses every line, 3 is not in this group at all
        apply_records(s, [_invoice("1", ["b", "d"], T2), _invoice("2", [], T2)])
    assert _lines() == {"1": ["b", "d"], "3": ["x"]}
    assert statements.count("DELETE") == 1, statements

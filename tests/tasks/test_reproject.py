"""`zohosync reproject`: stored records re-run through today's transformers fill new columns, without Zoho."""
from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner
from sqlalchemy import text

from models.erp import Bill, BillLineItem, ContactPerson, Customer, Vendor
from tasks.reproject import reproject_entity
from tests.zoho.transformers.support import one, rows, sync

LMT = "2025-11-04T21:52:11+0300"
BILL = {
    "bill_id": "2646610000000500001", "bill_number": "BL-1", "vendor_id": "2646610000000600001",
    "last_modified_time": LMT, "is_inclusive_tax": True, "discount": "10%", "tds_amount": 12.5,
    "billing_address": [{"address": "Street 1", "city": "Basra"}, {"address": "HQ", "city": "Baghdad",
                                                                   "is_default": True}],
    "custom_fields": [{"api_name": "cf_project", "label": "Project", "value": "North"}],
    "line_items": [{"line_item_id": "2646610000000500002", "purchase_rate": 7, "quantity": 2,
                    "location_id": "2646610000000077024", "location_name": "Main"}],
}
CONTACT = {
    "contact_id": "2646610000000700001", "contact_name": "Both Ways LLC", "contact_type": "both",
    "last_modified_time": LMT,
    "contact_persons": [{"contact_person_id": "2646610000000700002", "first_name": "Ali", "last_name": "Hassan",
                         "email": "ali@example.com", "is_primary_contact": True}],
}


def _forget_new_columns(db) -> None:
    """What rows written before migration 0006 look like: the new columns empty."""
    with db.begin() as c:
        c.execute(text("UPDATE bills SET is_inclusive_tax = NULL, discount_type = NULL, tds_amount = NULL, "
                       "custom_fields = NULL, billing_address = NULL, billing_city = NULL"))
        c.execute(text("UPDATE bill_line_items SET zoho_location_id = NULL, location_name = NULL, rate = NULL"))
        c.execute(text("UPDATE customers SET contact_person_email = NULL, contact_type = NULL"))
        c.execute(text("DELETE FROM vendors"))
        c.execute(text("DELETE FROM contact_persons"))


def _filled() -> None:
    bill = one(Bill, zoho_bill_id=BILL["bill_id"])
    assert (bill.is_inclusive_tax, bill.discount_type, bill.tds_amount) == (True, "percentage", Decimal("12.5"))
    assert bill.custom_fields == {"cf_project": "North", "Project": "North"}
    assert (bill.billing_address, bill.billing_city) == ("HQ", "Baghdad")
    (line,) = rows(BillLineItem)
    assert (line.zoho_location_id, line.location_name, line.rate) == ("2646610000000077024", "Main", Decimal(7))


def test_reproject_gives_rows_written_before_the_migration_their_new_columns_and_is_idempotent(db):
    sync("bills", {"bill": BILL})
    sync("customers", {"contact": CONTACT})
    _forget_new_columns(db)

    first = reproject_entity("bills")
    assert (first["rows"], first["applied"], first["failed"]) == (1, 1, 0)
    with db.connect() as c:
        assert c.execute(text("SELECT actor, entity_type FROM tds_audit_trail WHERE action = 'reproject'")).all() == [
            ("cli", "bills")]
    _filled()
    customers = reproject_entity("customers")
    assert customers["failed"] == 0
    assert one(Customer, zoho_contact_id=CONTACT["contact_id"]).contact_person_email == "ali@example.com"
    assert one(Vendor, zoho_contact_id=CONTACT["contact_id"]).contact_type == "both"  # filed by its own type
    assert one(ContactPerson, zoho_contact_person_id="2646610000000700002").zoho_contact_id == CONTACT["contact_id"]

    with db.connect() as c:
        before = c.execute(text("SELECT b.*, l.* FROM bills b JOIN bill_line_items l ON l.bill_id = b.id")).all()
    again = reproject_entity("bills")
    assert again["failed"] == 0
    with db.connect() as c:
        after = c.execute(text("SELECT b.*, l.* FROM bills b JOIN bill_line_items l ON l.bill_id = b.id")).all()
    strip = [{k: v for k, v in r._mapping.items() if k != "last_synced_at"} for r in before]
    assert strip == [{k: v for k, v in r._mapping.items() if k != "last_synced_at"} for r in after]


def test_reproject_never_overwrites_a_newer_row_nor_revives_a_deleted_one(db):
    sync("bills", {"bill": BILL})
    newer = {**BILL, "last_modified_time": "2025-11-05T09:00:00+0300", "bill_number": "BL-1-NEW"}
    with db.begin() as c:  # the stored record is older than the row (a row edited by a newer event)
        c.execute(text("UPDATE bills SET zoho_last_modified_at = '2025-11-06T00:00:00+03:00', bill_number = :n"),
                  {"n": newer["bill_number"]})
    result = reproject_entity("bills")
    assert (result["applied"], result["stale"]) == (0, 1)
    assert one(Bill, zoho_bill_id=BILL["bill_id"]).bill_number == "BL-1-NEW"

    with db.begin() as c:
        c.execute(text("UPDATE bills SET zoho_last_modified_at = :v, is_active = false, tds_amount = NULL"),
                  {"v": "2025-11-04T21:52:11+03:00"})
    reproject_entity("bills")
    bill = one(Bill, zoho_bill_id=BILL["bill_id"])
    assert bill.is_active is False and bill.tds_amount == Decimal("12.5")


def test_the_command_reprojects_every_entity_with_a_table(db):
    from tasks.cli import main

    sync("bills", {"bill": BILL})
    _forget_new_columns(db)
    out = CliRunner().invoke(main, ["reproject", "--all", "--json"])
    assert out.exit_code == 0, out.output
    _filled()
    assert CliRunner().invoke(main, ["reproject"]).exit_code != 0  # neither ENTITY nor --all
    assert CliRunner().invoke(main, ["reproject", "nope"]).exit_code != 0


def test_stock_is_reprojected_from_the_item_records_products_keep(db):
    item = {"item_id": "2646610000000900001", "name": "Cable", "last_modified_time": LMT,
            "locations": [{"location_id": "2646610000000077024", "location_stock_on_hand": 5,
                           "location_available_stock": 4}]}
    sync("products", {"item": item})
    result = reproject_entity("stock")
    assert (result["rows"], result["failed"]) == (1, 0)
    with db.connect() as c:
        assert c.execute(text("SELECT stock_on_hand, available_stock FROM stock_levels")).one() == (5, 4)

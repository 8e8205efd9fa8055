"""Zoho as it really is: accountant columns, contact persons, shape warnings

Adds, on every document (invoices, bills, credit notes, sales and purchase orders):
`is_inclusive_tax`, `discount_amount`, `custom_fields`; on their lines `zoho_location_id`,
`location_name`; on invoices and bills `tds_amount`, `tds_tax_id`, `tds_tax_name`; on
customers and vendors `contact_type`, `contact_person_name|email|phone|mobile` and
`custom_fields`; on products `barcode`, `ean`, `upc`, `isbn`, `part_number`, `sync_status`,
`custom_fields`; `custom_fields` on payments, price lists and warehouses. New tables:
`contact_persons` (every person of every contact) and `tds_shape_warnings` (per entity, the
records accepted with a field of an unexpected shape).

Upgrade notes: the new columns start empty on rows written before this migration. Fill them
from the records the ERP already keeps, without calling Zoho:

    zohosync reproject --all

(idempotent; newest-wins untouched; re-run it after any later mapping fix).

Revision ID: 0006_zoho_shapes
Revises: 0005_sync_cursor_id
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006_zoho_shapes"
down_revision = "0005_sync_cursor_id"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(20, 6)
DOCUMENTS = ("invoices", "bills", "credit_notes", "sales_orders", "purchase_orders")
LINES = ("invoice_line_items", "bill_line_items", "credit_note_line_items", "sales_order_line_items",
         "purchase_order_line_items")
CONTACTS = ("customers", "vendors")
WITH_CUSTOM_FIELDS = ("products", "payments", "price_lists", "warehouses")


def _columns() -> list[tuple[str, sa.Column]]:
    out: list[tuple[str, sa.Column]] = []
    for t in DOCUMENTS:
        out += [(t, sa.Column("is_inclusive_tax", sa.Boolean())), (t, sa.Column("discount_amount", MONEY)),
                (t, sa.Column("custom_fields", JSONB()))]
    for t in ("invoices", "bills"):
        out += [(t, sa.Column("tds_amount", MONEY)), (t, sa.Column("tds_tax_id", sa.Text())),
                (t, sa.Column("tds_tax_name", sa.Text()))]
    for t in LINES:
        out += [(t, sa.Column("zoho_location_id", sa.String(32))), (t, sa.Column("location_name", sa.Text()))]
    for t in CONTACTS:
        out += [(t, sa.Column(c, sa.Text())) for c in ("contact_type", "contact_person_name", "contact_person_email",
                                                        "contact_person_phone", "contact_person_mobile")]
        out.append((t, sa.Column("custom_fields", JSONB())))
    out += [("products", sa.Column(c, sa.Text())) for c in ("barcode", "ean", "upc", "isbn", "part_number",
                                                             "sync_status")]
    out += [(t, sa.Column("custom_fields", JSONB())) for t in WITH_CUSTOM_FIELDS]
    return out


def upgrade() -> None:
    for table, column in _columns():
        op.add_column(table, column)
    op.create_table(
        "contact_persons",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("zoho_contact_person_id", sa.String(32), nullable=False, unique=True),
        sa.Column("zoho_contact_id", sa.String(32), index=True),
        sa.Column("salutation", sa.Text()),
        sa.Column("first_name", sa.Text()),
        sa.Column("last_name", sa.Text()),
        sa.Column("email", sa.Text()),
        sa.Column("phone", sa.Text()),
        sa.Column("mobile", sa.Text()),
        sa.Column("designation", sa.Text()),
        sa.Column("department", sa.Text()),
        sa.Column("is_primary_contact", sa.Boolean()),
        sa.Column("is_active", sa.Boolean(), nullable=False, server_default=sa.text("true")),
        sa.Column("zoho_last_modified_at", sa.DateTime(timezone=True)),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("raw", JSONB()),
    )
    op.create_table(
        "tds_shape_warnings",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("entity_type", sa.Text(), nullable=False, unique=True),
        sa.Column("count", sa.BigInteger(), nullable=False, server_default=sa.text("0")),
        sa.Column("last_fields", JSONB()),
        sa.Column("last_entity_id", sa.Text()),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), server_default=sa.func.now()),
    )


def downgrade() -> None:
    op.drop_table("tds_shape_warnings")
    op.drop_table("contact_persons")
    for table, column in reversed(_columns()):
        op.drop_column(table, column.name)

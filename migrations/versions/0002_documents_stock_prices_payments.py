"""documents, warehouses and stock, price lists, payments

The five documents (invoices, bills, credit notes, sales and purchase orders) share
their header and line columns, so this migration builds them from the small column
groups below. The groups are copied here on purpose: a migration is frozen in time
and must not follow later edits of the models.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

MONEY = sa.Numeric(precision=20, scale=6)
ZOHO_ID = sa.String(length=32)


def _id() -> sa.Column:
    return sa.Column("id", sa.BigInteger(), autoincrement=True, primary_key=True)


def _synced() -> list[sa.Column]:
    """SyncedMixin: id, is_active, zoho_last_modified_at, last_synced_at, created_at, raw."""
    return [
        _id(),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("zoho_last_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("raw", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    ]


def _addresses() -> list[sa.Column]:
    """AddressMixin: billing_* and shipping_* text columns."""
    parts = ("attention", "address", "street2", "city", "state", "zip", "country", "phone")
    return [sa.Column(f"{kind}_{part}", sa.Text(), nullable=True) for kind in ("billing", "shipping") for part in parts]


def _text(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Text(), nullable=True) for n in names]


def _money(*names: str) -> list[sa.Column]:
    return [sa.Column(n, MONEY, nullable=True) for n in names]


def _zoho_ids(*names: str) -> list[sa.Column]:
    return [sa.Column(n, ZOHO_ID, nullable=True) for n in names]


def _dates(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Date(), nullable=True) for n in names]


def _document_header(party: str) -> list[sa.Column]:
    """_Document + _CustomerDocument / _VendorDocument columns."""
    party_cols = (
        _zoho_ids("zoho_customer_id") + _text("customer_name", "salesperson_name")
        if party == "customer"
        else _zoho_ids("zoho_vendor_id") + _text("vendor_name")
    )
    return (
        party_cols
        + _text("status", "currency_code")
        + _money("exchange_rate")
        + _dates("due_date")
        + _money("sub_total", "tax_total", "discount")
        + _text("discount_type")
        + _money("discount_total", "shipping_charge", "adjustment", "total", "balance")
        + _text("reference_number")
        + [sa.Column("payment_terms", sa.Integer(), nullable=True)]
        + _text("payment_terms_label")
        + _zoho_ids("zoho_location_id")
        + _text("location_name", "notes", "terms")
        + [sa.Column("zoho_created_at", sa.DateTime(timezone=True), nullable=True)]
        + _synced()
        + _addresses()
    )


def _line_columns() -> list[sa.Column]:
    """_LineItem columns (the parent FK and extras are added per table)."""
    return (
        [_id(), sa.Column("zoho_line_item_id", ZOHO_ID, nullable=False)]
        + _zoho_ids("zoho_item_id")
        + [sa.Column("item_order", sa.Integer(), nullable=True)]
        + _text("name", "description", "sku", "unit")
        + _money("quantity", "rate", "bcy_rate", "discount", "discount_amount")
        + _text("tax_name")
        + _money("tax_percentage", "tax_amount", "item_total")
    )


# (table, zoho id column, number/date prefix, party, extra header columns, line table, parent fk, extra line columns)
DOCUMENTS = (
    ("invoices", "zoho_invoice_id", "invoice", "customer",
     lambda: _money("payment_made", "credits_applied") + _zoho_ids("zoho_salesorder_id"),
     "invoice_line_items", "invoice_id", lambda: []),
    ("bills", "zoho_bill_id", "bill", "vendor",
     lambda: _money("payment_made"),
     "bill_line_items", "bill_id", lambda: []),
    ("credit_notes", "zoho_creditnote_id", "creditnote", "customer",
     lambda: _text("reason"),
     "credit_note_line_items", "credit_note_id", lambda: _zoho_ids("zoho_invoice_id")),
    ("sales_orders", "zoho_salesorder_id", "salesorder", "customer",
     lambda: _dates("shipment_date") + _text("order_status", "invoiced_status", "paid_status", "shipped_status"),
     "sales_order_line_items", "sales_order_id",
     lambda: _money("quantity_invoiced", "quantity_packed", "quantity_shipped")),
    ("purchase_orders", "zoho_purchaseorder_id", "purchaseorder", "vendor",
     lambda: _dates("delivery_date") + _text("order_status", "billed_status", "received_status"),
     "purchase_order_line_items", "purchase_order_id",
     lambda: _money("quantity_received", "quantity_billed")),
)


def upgrade() -> None:
    for table, key, prefix, party, extra, line_table, fk, line_extra in DOCUMENTS:
        op.create_table(
            table,
            sa.Column(key, ZOHO_ID, nullable=False),
            sa.Column(f"{prefix}_number", sa.Text(), nullable=True),
            sa.Column(f"{prefix}_date", sa.Date(), nullable=True),
            *extra(),
            *_document_header(party),
            sa.UniqueConstraint(key),
        )
        op.create_index(f"ix_{table}_zoho_{party}_id", table, [f"zoho_{party}_id"])
        op.create_table(
            line_table,
            sa.Column(fk, sa.BigInteger(), sa.ForeignKey(f"{table}.id", ondelete="CASCADE"), nullable=False),
            *line_extra(),
            *_line_columns(),
            sa.UniqueConstraint(fk, "zoho_line_item_id"),
        )

    op.create_table(
        "warehouses",
        sa.Column("zoho_warehouse_id", ZOHO_ID, nullable=False),
        *_text("name", "location_type"),
        *_zoho_ids("zoho_parent_location_id"),
        sa.Column("is_primary", sa.Boolean(), nullable=True),
        *_text("status", "attention", "address", "street2", "city", "state", "state_code", "zip", "country",
               "email", "phone"),
        *_synced(),
        sa.UniqueConstraint("zoho_warehouse_id"),
    )
    op.create_table(
        "stock_levels",
        _id(),
        sa.Column("product_id", sa.BigInteger(), sa.ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
        sa.Column("warehouse_id", sa.BigInteger(), sa.ForeignKey("warehouses.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("zoho_item_id", ZOHO_ID, nullable=False),
        sa.Column("zoho_warehouse_id", ZOHO_ID, nullable=False),
        *_money("stock_on_hand", "available_stock", "actual_available_stock", "committed_stock",
                "actual_committed_stock", "available_for_sale_stock", "actual_available_for_sale_stock"),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("zoho_last_modified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_synced_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=True),
        sa.UniqueConstraint("product_id", "warehouse_id"),
    )
    op.create_index("ix_stock_levels_warehouse_id", "stock_levels", ["warehouse_id"])

    op.create_table(
        "price_lists",
        sa.Column("zoho_pricebook_id", ZOHO_ID, nullable=False),
        *_text("name", "description", "currency_code", "pricebook_type", "pricing_scheme", "sales_or_purchase_type"),
        *_money("percentage"),
        sa.Column("is_increase", sa.Boolean(), nullable=True),
        *_text("rounding_type"),
        sa.Column("decimal_place", sa.Integer(), nullable=True),
        sa.Column("is_default", sa.Boolean(), nullable=True),
        *_text("status"),
        *_synced(),
        sa.UniqueConstraint("zoho_pricebook_id"),
    )
    op.create_table(
        "price_list_items",
        _id(),
        sa.Column("price_list_id", sa.BigInteger(), sa.ForeignKey("price_lists.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("zoho_item_id", ZOHO_ID, nullable=False),
        *_zoho_ids("zoho_pricebook_item_id"),
        sa.Column("product_id", sa.BigInteger(), sa.ForeignKey("products.id", ondelete="SET NULL"), nullable=True),
        *_text("name", "sku", "pricing_scheme"),
        *_money("pricebook_rate", "discount"),
        sa.Column("discount_is_percent", sa.Boolean(), nullable=True),
        sa.Column("price_brackets", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.UniqueConstraint("price_list_id", "zoho_item_id"),
    )
    op.create_index("ix_price_list_items_product_id", "price_list_items", ["product_id"])

    op.create_table(
        "payments",
        sa.Column("zoho_payment_id", ZOHO_ID, nullable=False),
        *_text("payment_type", "payment_number"),
        *_dates("payment_date"),
        *_text("payment_mode", "status"),
        *_money("amount", "bcy_amount", "unused_amount", "bank_charges", "amount_refunded"),
        *_text("currency_code"),
        *_money("exchange_rate"),
        *_text("reference_number", "description"),
        *_zoho_ids("zoho_customer_id"),
        *_text("customer_name"),
        *_zoho_ids("zoho_vendor_id"),
        *_text("vendor_name"),
        *_zoho_ids("zoho_account_id"),
        *_text("account_name"),
        sa.Column("zoho_created_at", sa.DateTime(timezone=True), nullable=True),
        *_synced(),
        sa.UniqueConstraint("zoho_payment_id"),
    )
    op.create_index("ix_payments_zoho_customer_id", "payments", ["zoho_customer_id"])
    op.create_index("ix_payments_zoho_vendor_id", "payments", ["zoho_vendor_id"])
    op.create_table(
        "payment_applications",
        _id(),
        sa.Column("payment_id", sa.BigInteger(), sa.ForeignKey("payments.id", ondelete="CASCADE"), nullable=False),
        sa.Column("zoho_document_id", ZOHO_ID, nullable=False),
        sa.Column("document_type", sa.Text(), nullable=False),
        *_text("document_number"),
        *_dates("document_date"),
        *_money("document_total", "document_balance", "amount_applied"),
        sa.UniqueConstraint("payment_id", "zoho_document_id"),
    )


def downgrade() -> None:
    for table in ("payment_applications", "payments", "price_list_items", "price_lists", "stock_levels",
                  "warehouses"):
        op.drop_table(table)
    for table, *_, line_table, _fk, _line_extra in reversed(DOCUMENTS):
        op.drop_table(line_table)
        op.drop_table(table)

"""the seeds' remaining Zoho sources: inventory adjustments, transfer orders, composite items, item groups, vendor credits

Five new entities, each a main table keyed by its Zoho id (with `is_active`,
`zoho_last_modified_at`, `last_synced_at`, `raw`) and, where Zoho nests lines, a line
table pointing at the parent's `id`. The column groups are copied here on purpose: a
migration is frozen in time and must not follow later edits of the models.

Revision ID: 0007_more_entities
Revises: 0006_zoho_shapes
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007_more_entities"
down_revision = "0006_zoho_shapes"
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


def _text(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Text(), nullable=True) for n in names]


def _money(*names: str) -> list[sa.Column]:
    return [sa.Column(n, MONEY, nullable=True) for n in names]


def _zoho_ids(*names: str) -> list[sa.Column]:
    return [sa.Column(n, ZOHO_ID, nullable=True) for n in names]


def _bools(*names: str) -> list[sa.Column]:
    return [sa.Column(n, sa.Boolean(), nullable=True) for n in names]


def _jsonb(*names: str) -> list[sa.Column]:
    return [sa.Column(n, postgresql.JSONB(astext_type=sa.Text()), nullable=True) for n in names]


def _created() -> sa.Column:
    return sa.Column("zoho_created_at", sa.DateTime(timezone=True), nullable=True)


def _main(table: str, key: str, *columns: sa.Column) -> None:
    op.create_table(table, sa.Column(key, ZOHO_ID, nullable=False), *columns, *_synced(), sa.UniqueConstraint(key))


def _lines(table: str, parent: str, fk: str, *columns: sa.Column) -> None:
    op.create_table(
        table,
        _id(),
        sa.Column(fk, sa.BigInteger(), sa.ForeignKey(f"{parent}.id", ondelete="CASCADE"), nullable=False),
        sa.Column("zoho_line_item_id", ZOHO_ID, nullable=False),
        *_zoho_ids("zoho_item_id"),
        sa.Column("item_order", sa.Integer(), nullable=True),
        *columns,
        sa.UniqueConstraint(fk, "zoho_line_item_id"),
    )


def upgrade() -> None:
    _main("inventory_adjustments", "zoho_inventory_adjustment_id",
          sa.Column("adjustment_date", sa.Date(), nullable=True),
          *_text("adjustment_type", "reason"), *_zoho_ids("zoho_reason_id"),
          *_text("description", "reference_number", "status"),
          *_zoho_ids("zoho_location_id"), *_text("location_name"), *_money("total"),
          *_jsonb("custom_fields"), _created())
    _lines("inventory_adjustment_line_items", "inventory_adjustments", "inventory_adjustment_id",
           *_text("name", "description", "sku", "unit"),
           *_money("quantity_adjusted", "value_adjusted", "item_total"),
           *_zoho_ids("zoho_adjustment_account_id"), *_text("adjustment_account_name"),
           *_zoho_ids("zoho_location_id"), *_text("location_name"))

    _main("transfer_orders", "zoho_transfer_order_id",
          *_text("transfer_order_number"), sa.Column("transfer_order_date", sa.Date(), nullable=True),
          *_text("description", "status"), *_bools("is_intransit_order"),
          *_zoho_ids("zoho_from_location_id"), *_text("from_location_name"),
          *_zoho_ids("zoho_to_location_id"), *_text("to_location_name"),
          *_jsonb("custom_fields"), _created())
    _lines("transfer_order_line_items", "transfer_orders", "transfer_order_id",
           *_text("name", "description", "sku", "unit"), *_money("quantity_transfer"))

    _main("composite_items", "zoho_composite_item_id",
          *_text("name", "sku", "unit", "description", "status", "combo_type", "item_type", "product_type",
                 "brand", "manufacturer"),
          *_zoho_ids("zoho_category_id"), *_text("category_name"),
          *_money("unit_price", "cost_price"), *_text("tax_name"),
          *_money("tax_percentage", "stock_on_hand", "available_stock", "reorder_level"),
          *_text("ean", "upc", "isbn", "part_number", "image_name"),
          *_jsonb("custom_fields"), _created())
    _lines("composite_item_components", "composite_items", "composite_item_id",
           *_text("name", "sku", "unit", "description"), *_money("quantity", "rate", "purchase_rate"),
           *_bools("is_combo_product"))
    op.create_index("ix_composite_item_components_zoho_item_id", "composite_item_components", ["zoho_item_id"])

    _main("item_groups", "zoho_group_id",
          *_text("group_name", "description", "brand", "manufacturer", "unit", "product_type", "status"),
          *_bools("is_taxable"), *_text("tax_name"), *_money("tax_percentage"),
          *_text("attribute_name1", "attribute_name2", "attribute_name3", "image_name"),
          sa.Column("item_count", sa.Integer(), nullable=True),
          *_jsonb("zoho_item_ids", "custom_fields"), _created())

    # a document like bills (_VendorDocument: header, addresses) plus the columns of issue 13
    parts = ("attention", "address", "street2", "city", "state", "zip", "country", "phone")
    _main("vendor_credits", "zoho_vendor_credit_id",
          *_text("vendor_credit_number"), sa.Column("vendor_credit_date", sa.Date(), nullable=True),
          *_zoho_ids("zoho_vendor_id"), *_text("vendor_name", "status", "currency_code"),
          *_money("exchange_rate"), sa.Column("due_date", sa.Date(), nullable=True),
          *_money("sub_total", "tax_total", "discount"), *_text("discount_type"),
          *_money("discount_amount", "discount_total", "shipping_charge", "adjustment", "total", "balance",
                  "total_credits_used", "total_refunded_amount"),
          *_bools("is_inclusive_tax"), *_text("reference_number"),
          sa.Column("payment_terms", sa.Integer(), nullable=True), *_text("payment_terms_label"),
          *_zoho_ids("zoho_location_id"), *_text("location_name", "notes", "terms"),
          *_text(*(f"{kind}_{part}" for kind in ("billing", "shipping") for part in parts)),
          *_jsonb("custom_fields"), _created())
    op.create_index("ix_vendor_credits_zoho_vendor_id", "vendor_credits", ["zoho_vendor_id"])
    _lines("vendor_credit_line_items", "vendor_credits", "vendor_credit_id",
           *_text("name", "description", "sku", "unit"),
           *_money("quantity", "rate", "bcy_rate", "discount", "discount_amount"), *_text("tax_name"),
           *_money("tax_percentage", "tax_amount", "item_total"),
           *_zoho_ids("zoho_location_id"), *_text("location_name"),
           *_zoho_ids("zoho_account_id"), *_text("account_name"))


def downgrade() -> None:
    for table in ("vendor_credit_line_items", "vendor_credits", "item_groups", "composite_item_components",
                  "composite_items", "transfer_order_line_items", "transfer_orders",
                  "inventory_adjustment_line_items", "inventory_adjustments"):
        op.drop_table(table)

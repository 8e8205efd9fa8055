"""ERP tables: one typed model per Zoho entity, each keyed by its unique Zoho id.

Every main table carries `zoho_last_modified_at` (newest wins), `last_synced_at`,
`is_active` (a delete deactivates, never drops) and `raw` (the Zoho record as
received, for fields not mapped yet). Line tables point at their parent's `id`.

The annotations are evaluated as the classes are made (no `from __future__ import annotations`, here or in
the other table modules): SQLAlchemy would otherwise evaluate ~1,000 annotation strings itself, 0.16 s more at
every process start.
"""
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from models.base import Base, Money, ZohoId, intpk


class SyncedMixin:
    """Columns every synced main table has; `zoho_key` names its unique Zoho id column."""

    zoho_key: str = ""

    id: Mapped[intpk]
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    zoho_last_modified_at: Mapped[dt.datetime | None]
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(server_default=func.now())
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())
    raw: Mapped[dict[str, Any] | None]


class CustomFieldsMixin:
    """Zoho custom fields (`custom_fields[]`, `custom_field_hash`, top-level `cf_*`) keyed by api name and label."""

    custom_fields: Mapped[dict[str, Any] | None]


class AddressMixin:
    """Billing and shipping addresses, flattened, as Zoho contacts carry them."""

    billing_attention: Mapped[str | None]
    billing_address: Mapped[str | None]
    billing_street2: Mapped[str | None]
    billing_city: Mapped[str | None]
    billing_state: Mapped[str | None]
    billing_zip: Mapped[str | None]
    billing_country: Mapped[str | None]
    billing_phone: Mapped[str | None]
    shipping_attention: Mapped[str | None]
    shipping_address: Mapped[str | None]
    shipping_street2: Mapped[str | None]
    shipping_city: Mapped[str | None]
    shipping_state: Mapped[str | None]
    shipping_zip: Mapped[str | None]
    shipping_country: Mapped[str | None]
    shipping_phone: Mapped[str | None]


class Product(SyncedMixin, CustomFieldsMixin, Base):
    __tablename__ = "products"
    zoho_key = "zoho_item_id"

    zoho_item_id: Mapped[ZohoId] = mapped_column(unique=True)
    name: Mapped[str | None]
    name_ar: Mapped[str | None]
    description: Mapped[str | None]
    description_ar: Mapped[str | None]
    sku: Mapped[str | None]
    unit: Mapped[str | None]
    brand: Mapped[str | None]
    category_name: Mapped[str | None]
    barcode: Mapped[str | None]
    """The first of Zoho's `ean`, `upc`, `isbn`, `part_number` that is set (each also kept in its own column)."""
    ean: Mapped[str | None]
    upc: Mapped[str | None]
    isbn: Mapped[str | None]
    part_number: Mapped[str | None]
    sync_status: Mapped[str | None]
    item_type: Mapped[str | None]
    product_type: Mapped[str | None]
    status: Mapped[str | None]
    unit_price: Mapped[Money | None]
    cost_price: Mapped[Money | None]
    consumer_price: Mapped[Money | None]
    wholesale_price: Mapped[Money | None]
    stock_on_hand: Mapped[Money | None]
    available_stock: Mapped[Money | None]
    reorder_level: Mapped[Money | None]
    tax_percentage: Mapped[Money | None]
    image_name: Mapped[str | None]
    image_document_id: Mapped[str | None]
    image_url: Mapped[str | None]
    image_hash: Mapped[str | None]
    # Written only by `images.sync_products` (tasks/images.py), never by the transformer:
    image_synced_key: Mapped[str | None]
    """The Zoho image marker `image_url` was fetched for ('' = Zoho says no image); a different one means fetch."""
    image_checked_at: Mapped[dt.datetime | None]
    image_error: Mapped[str | None]
    image_failures: Mapped[int | None] = mapped_column(Integer)
    """Consecutive failed fetches (NULL: none); a success clears it. Failed products are retried on the next run."""


class ProductImage(Base):
    """A product picture's bytes, addressed by their sha256: the store every host shares (served by the receiver)."""

    __tablename__ = "product_images"

    sha256: Mapped[str] = mapped_column(primary_key=True)
    ext: Mapped[str]
    content_type: Mapped[str]
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(server_default=func.now())


class _Contact(SyncedMixin, CustomFieldsMixin, AddressMixin):
    zoho_key = "zoho_contact_id"

    zoho_contact_id: Mapped[ZohoId] = mapped_column(unique=True)
    name: Mapped[str | None]
    name_ar: Mapped[str | None]
    company_name: Mapped[str | None]
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    mobile: Mapped[str | None]
    website: Mapped[str | None]
    status: Mapped[str | None]
    currency_code: Mapped[str | None]
    payment_terms: Mapped[int | None] = mapped_column(Integer)
    payment_terms_label: Mapped[str | None]
    credit_limit: Mapped[Money | None]
    tax_number: Mapped[str | None]
    notes: Mapped[str | None]
    contact_type: Mapped[str | None]
    contact_person_name: Mapped[str | None]
    """The primary contact person (else the first one) of `contact_persons[]`."""
    contact_person_email: Mapped[str | None]
    contact_person_phone: Mapped[str | None]
    contact_person_mobile: Mapped[str | None]


class Customer(_Contact, Base):
    __tablename__ = "customers"

    outstanding_receivable: Mapped[Money | None]
    unused_credits: Mapped[Money | None]


class Vendor(_Contact, Base):
    __tablename__ = "vendors"

    outstanding_payable: Mapped[Money | None]
    unused_credits: Mapped[Money | None]


class ContactPerson(SyncedMixin, Base):
    """A person of a Zoho contact (customer, vendor or both), from the contact's `contact_persons[]`."""

    __tablename__ = "contact_persons"
    zoho_key = "zoho_contact_person_id"

    zoho_contact_person_id: Mapped[ZohoId] = mapped_column(unique=True)
    zoho_contact_id: Mapped[ZohoId | None] = mapped_column(index=True)
    salutation: Mapped[str | None]
    first_name: Mapped[str | None]
    last_name: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]
    mobile: Mapped[str | None]
    designation: Mapped[str | None]
    department: Mapped[str | None]
    is_primary_contact: Mapped[bool | None]


# --- documents: a header row (SyncedMixin) plus its line set, replaced as a whole ---------------


class _Document(SyncedMixin, CustomFieldsMixin, AddressMixin):
    """Header columns the five Zoho documents share; each names its own id, number and date."""

    status: Mapped[str | None]
    currency_code: Mapped[str | None]
    exchange_rate: Mapped[Money | None]
    due_date: Mapped[dt.date | None]
    sub_total: Mapped[Money | None]
    tax_total: Mapped[Money | None]
    discount: Mapped[Money | None]
    discount_type: Mapped[str | None]
    """'percentage' when Zoho's header discount reads like "10%", 'amount' otherwise (Zoho's own
    `discount_type`, entity_level / item_level, stays in `raw`)."""
    discount_amount: Mapped[Money | None]
    discount_total: Mapped[Money | None]
    is_inclusive_tax: Mapped[bool | None]
    shipping_charge: Mapped[Money | None]
    adjustment: Mapped[Money | None]
    total: Mapped[Money | None]
    balance: Mapped[Money | None]
    reference_number: Mapped[str | None]
    payment_terms: Mapped[int | None] = mapped_column(Integer)
    payment_terms_label: Mapped[str | None]
    zoho_location_id: Mapped[ZohoId | None]
    location_name: Mapped[str | None]
    notes: Mapped[str | None]
    terms: Mapped[str | None]
    zoho_created_at: Mapped[dt.datetime | None]


class _CustomerDocument(_Document):
    """A document addressed to a customer, kept even before the customer reaches the ERP."""

    zoho_customer_id: Mapped[ZohoId | None] = mapped_column(index=True)
    customer_name: Mapped[str | None]
    salesperson_name: Mapped[str | None]


class _VendorDocument(_Document):
    """A document from a vendor, kept even before the vendor reaches the ERP."""

    zoho_vendor_id: Mapped[ZohoId | None] = mapped_column(index=True)
    vendor_name: Mapped[str | None]


class _LineItem:
    """Line columns the five documents share; `zoho_line_item_id` may be synthetic (`idx:<n>`)."""

    id: Mapped[intpk]
    zoho_line_item_id: Mapped[ZohoId]
    zoho_item_id: Mapped[ZohoId | None]
    item_order: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None]
    description: Mapped[str | None]
    sku: Mapped[str | None]
    unit: Mapped[str | None]
    quantity: Mapped[Money | None]
    rate: Mapped[Money | None]
    bcy_rate: Mapped[Money | None]
    discount: Mapped[Money | None]
    discount_amount: Mapped[Money | None]
    tax_name: Mapped[str | None]
    tax_percentage: Mapped[Money | None]
    tax_amount: Mapped[Money | None]
    item_total: Mapped[Money | None]
    zoho_location_id: Mapped[ZohoId | None]
    """The line's location (`location_id`, or `warehouse_id` on older organisations)."""
    location_name: Mapped[str | None]


class Invoice(_CustomerDocument, Base):
    __tablename__ = "invoices"
    zoho_key = "zoho_invoice_id"

    zoho_invoice_id: Mapped[ZohoId] = mapped_column(unique=True)
    invoice_number: Mapped[str | None]
    invoice_date: Mapped[dt.date | None]
    payment_made: Mapped[Money | None]
    credits_applied: Mapped[Money | None]
    zoho_salesorder_id: Mapped[ZohoId | None]
    tds_amount: Mapped[Money | None]
    tds_tax_id: Mapped[str | None]
    tds_tax_name: Mapped[str | None]


class InvoiceLineItem(_LineItem, Base):
    __tablename__ = "invoice_line_items"
    __table_args__ = (UniqueConstraint("invoice_id", "zoho_line_item_id"),)

    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id", ondelete="CASCADE"))


class Bill(_VendorDocument, Base):
    __tablename__ = "bills"
    zoho_key = "zoho_bill_id"

    zoho_bill_id: Mapped[ZohoId] = mapped_column(unique=True)
    bill_number: Mapped[str | None]
    bill_date: Mapped[dt.date | None]
    payment_made: Mapped[Money | None]
    tds_amount: Mapped[Money | None]
    tds_tax_id: Mapped[str | None]
    tds_tax_name: Mapped[str | None]


class BillLineItem(_LineItem, Base):
    __tablename__ = "bill_line_items"
    __table_args__ = (UniqueConstraint("bill_id", "zoho_line_item_id"),)

    bill_id: Mapped[int] = mapped_column(ForeignKey("bills.id", ondelete="CASCADE"))


class CreditNote(_CustomerDocument, Base):
    __tablename__ = "credit_notes"
    zoho_key = "zoho_creditnote_id"

    zoho_creditnote_id: Mapped[ZohoId] = mapped_column(unique=True)
    creditnote_number: Mapped[str | None]
    creditnote_date: Mapped[dt.date | None]
    reason: Mapped[str | None]


class CreditNoteLineItem(_LineItem, Base):
    __tablename__ = "credit_note_line_items"
    __table_args__ = (UniqueConstraint("credit_note_id", "zoho_line_item_id"),)

    credit_note_id: Mapped[int] = mapped_column(ForeignKey("credit_notes.id", ondelete="CASCADE"))
    zoho_invoice_id: Mapped[ZohoId | None]


class SalesOrder(_CustomerDocument, Base):
    __tablename__ = "sales_orders"
    zoho_key = "zoho_salesorder_id"

    zoho_salesorder_id: Mapped[ZohoId] = mapped_column(unique=True)
    salesorder_number: Mapped[str | None]
    salesorder_date: Mapped[dt.date | None]
    shipment_date: Mapped[dt.date | None]
    order_status: Mapped[str | None]
    invoiced_status: Mapped[str | None]
    paid_status: Mapped[str | None]
    shipped_status: Mapped[str | None]


class SalesOrderLineItem(_LineItem, Base):
    __tablename__ = "sales_order_line_items"
    __table_args__ = (UniqueConstraint("sales_order_id", "zoho_line_item_id"),)

    sales_order_id: Mapped[int] = mapped_column(ForeignKey("sales_orders.id", ondelete="CASCADE"))
    quantity_invoiced: Mapped[Money | None]
    quantity_packed: Mapped[Money | None]
    quantity_shipped: Mapped[Money | None]


class PurchaseOrder(_VendorDocument, Base):
    __tablename__ = "purchase_orders"
    zoho_key = "zoho_purchaseorder_id"

    zoho_purchaseorder_id: Mapped[ZohoId] = mapped_column(unique=True)
    purchaseorder_number: Mapped[str | None]
    purchaseorder_date: Mapped[dt.date | None]
    delivery_date: Mapped[dt.date | None]
    order_status: Mapped[str | None]
    billed_status: Mapped[str | None]
    received_status: Mapped[str | None]


class PurchaseOrderLineItem(_LineItem, Base):
    __tablename__ = "purchase_order_line_items"
    __table_args__ = (UniqueConstraint("purchase_order_id", "zoho_line_item_id"),)

    purchase_order_id: Mapped[int] = mapped_column(ForeignKey("purchase_orders.id", ondelete="CASCADE"))
    quantity_received: Mapped[Money | None]
    quantity_billed: Mapped[Money | None]


# --- warehouses and stock ----------------------------------------------------------------------


class Warehouse(SyncedMixin, CustomFieldsMixin, Base):
    """A Zoho location (current orgs) or warehouse (older orgs): the two share their ids."""

    __tablename__ = "warehouses"
    zoho_key = "zoho_warehouse_id"

    zoho_warehouse_id: Mapped[ZohoId] = mapped_column(unique=True)
    name: Mapped[str | None]
    location_type: Mapped[str | None]
    zoho_parent_location_id: Mapped[ZohoId | None]
    is_primary: Mapped[bool | None]
    status: Mapped[str | None]
    attention: Mapped[str | None]
    address: Mapped[str | None]
    street2: Mapped[str | None]
    city: Mapped[str | None]
    state: Mapped[str | None]
    state_code: Mapped[str | None]
    zip: Mapped[str | None]
    country: Mapped[str | None]
    email: Mapped[str | None]
    phone: Mapped[str | None]


class StockLevel(Base):
    """One product's stock in one warehouse, from the item's `locations[]` / `warehouses[]`.

    `is_active` turns false when the location is inactive or the item's delete arrives
    with its locations; the quantities are kept as last known.
    """

    __tablename__ = "stock_levels"
    __table_args__ = (UniqueConstraint("product_id", "warehouse_id"),)

    id: Mapped[intpk]
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(ForeignKey("warehouses.id", ondelete="CASCADE"), index=True)
    zoho_item_id: Mapped[ZohoId]
    zoho_warehouse_id: Mapped[ZohoId]
    stock_on_hand: Mapped[Money | None]
    available_stock: Mapped[Money | None]
    actual_available_stock: Mapped[Money | None]
    committed_stock: Mapped[Money | None]
    actual_committed_stock: Mapped[Money | None]
    available_for_sale_stock: Mapped[Money | None]
    actual_available_for_sale_stock: Mapped[Money | None]
    is_active: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    zoho_last_modified_at: Mapped[dt.datetime | None]
    last_synced_at: Mapped[dt.datetime | None] = mapped_column(server_default=func.now())


# --- price lists ---------------------------------------------------------------------------------


class PriceList(SyncedMixin, CustomFieldsMixin, Base):
    __tablename__ = "price_lists"
    zoho_key = "zoho_pricebook_id"

    zoho_pricebook_id: Mapped[ZohoId] = mapped_column(unique=True)
    name: Mapped[str | None]
    description: Mapped[str | None]
    currency_code: Mapped[str | None]
    pricebook_type: Mapped[str | None]
    pricing_scheme: Mapped[str | None]
    sales_or_purchase_type: Mapped[str | None]
    percentage: Mapped[Money | None]
    is_increase: Mapped[bool | None]
    rounding_type: Mapped[str | None]
    decimal_place: Mapped[int | None] = mapped_column(Integer)
    is_default: Mapped[bool | None]
    status: Mapped[str | None]


class PriceListItem(Base):
    """An item's price in one price book; keyed by the item so one product has one price per book."""

    __tablename__ = "price_list_items"
    __table_args__ = (UniqueConstraint("price_list_id", "zoho_item_id"),)

    id: Mapped[intpk]
    price_list_id: Mapped[int] = mapped_column(ForeignKey("price_lists.id", ondelete="CASCADE"))
    zoho_item_id: Mapped[ZohoId]
    zoho_pricebook_item_id: Mapped[ZohoId | None]
    product_id: Mapped[int | None] = mapped_column(ForeignKey("products.id", ondelete="SET NULL"), index=True)
    name: Mapped[str | None]
    sku: Mapped[str | None]
    pricing_scheme: Mapped[str | None]
    pricebook_rate: Mapped[Money | None]
    discount: Mapped[Money | None]
    discount_is_percent: Mapped[bool | None]
    price_brackets: Mapped[list[Any] | None]


# --- payments ------------------------------------------------------------------------------------


class Payment(SyncedMixin, CustomFieldsMixin, Base):
    """A customer payment (received) or a vendor payment (made), told apart by `payment_type`."""

    __tablename__ = "payments"
    zoho_key = "zoho_payment_id"

    zoho_payment_id: Mapped[ZohoId] = mapped_column(unique=True)
    payment_type: Mapped[str | None]  # "customer" | "vendor"; NULL only on a tombstone that never saw the payment
    payment_number: Mapped[str | None]
    payment_date: Mapped[dt.date | None]
    payment_mode: Mapped[str | None]
    status: Mapped[str | None]
    amount: Mapped[Money | None]
    bcy_amount: Mapped[Money | None]
    unused_amount: Mapped[Money | None]
    bank_charges: Mapped[Money | None]
    amount_refunded: Mapped[Money | None]
    currency_code: Mapped[str | None]
    exchange_rate: Mapped[Money | None]
    reference_number: Mapped[str | None]
    description: Mapped[str | None]
    zoho_customer_id: Mapped[ZohoId | None] = mapped_column(index=True)
    customer_name: Mapped[str | None]
    zoho_vendor_id: Mapped[ZohoId | None] = mapped_column(index=True)
    vendor_name: Mapped[str | None]
    zoho_account_id: Mapped[ZohoId | None]
    account_name: Mapped[str | None]
    zoho_created_at: Mapped[dt.datetime | None]


class PaymentApplication(Base):
    """The part of a payment applied to one invoice (customer payment) or bill (vendor payment)."""

    __tablename__ = "payment_applications"
    __table_args__ = (UniqueConstraint("payment_id", "zoho_document_id"),)

    id: Mapped[intpk]
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id", ondelete="CASCADE"))
    zoho_document_id: Mapped[ZohoId]
    document_type: Mapped[str]
    document_number: Mapped[str | None]
    document_date: Mapped[dt.date | None]
    document_total: Mapped[Money | None]
    document_balance: Mapped[Money | None]
    amount_applied: Mapped[Money | None]


# --- the seeds' remaining Zoho sources: adjustments, transfers, composite items, groups, vendor credits ---


class InventoryAdjustment(SyncedMixin, Base):
    """A stock correction in one location (theft, damage, count): quantities or values per line."""

    __tablename__ = "inventory_adjustments"
    zoho_key = "zoho_inventory_adjustment_id"

    zoho_inventory_adjustment_id: Mapped[ZohoId] = mapped_column(unique=True)
    adjustment_date: Mapped[dt.date | None]
    adjustment_type: Mapped[str | None]  # "quantity" | "value"
    reason: Mapped[str | None]
    zoho_reason_id: Mapped[ZohoId | None]
    description: Mapped[str | None]
    reference_number: Mapped[str | None]
    status: Mapped[str | None]
    zoho_location_id: Mapped[ZohoId | None]
    location_name: Mapped[str | None]
    total: Mapped[Money | None]
    custom_fields: Mapped[dict[str, Any] | None]
    zoho_created_at: Mapped[dt.datetime | None]


class InventoryAdjustmentLineItem(Base):
    """One item's adjustment; `zoho_line_item_id` may be synthetic (`idx:<n>`) like the documents' lines."""

    __tablename__ = "inventory_adjustment_line_items"
    __table_args__ = (UniqueConstraint("inventory_adjustment_id", "zoho_line_item_id"),)

    id: Mapped[intpk]
    inventory_adjustment_id: Mapped[int] = mapped_column(
        ForeignKey("inventory_adjustments.id", ondelete="CASCADE"))
    zoho_line_item_id: Mapped[ZohoId]
    zoho_item_id: Mapped[ZohoId | None]
    item_order: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None]
    description: Mapped[str | None]
    sku: Mapped[str | None]
    unit: Mapped[str | None]
    quantity_adjusted: Mapped[Money | None]
    value_adjusted: Mapped[Money | None]
    item_total: Mapped[Money | None]
    zoho_adjustment_account_id: Mapped[ZohoId | None]
    adjustment_account_name: Mapped[str | None]
    zoho_location_id: Mapped[ZohoId | None]
    location_name: Mapped[str | None]


class TransferOrder(SyncedMixin, Base):
    """Stock moved from one location (warehouse) to another."""

    __tablename__ = "transfer_orders"
    zoho_key = "zoho_transfer_order_id"

    zoho_transfer_order_id: Mapped[ZohoId] = mapped_column(unique=True)
    transfer_order_number: Mapped[str | None]
    transfer_order_date: Mapped[dt.date | None]
    description: Mapped[str | None]
    status: Mapped[str | None]
    is_intransit_order: Mapped[bool | None]
    zoho_from_location_id: Mapped[ZohoId | None]
    from_location_name: Mapped[str | None]
    zoho_to_location_id: Mapped[ZohoId | None]
    to_location_name: Mapped[str | None]
    custom_fields: Mapped[dict[str, Any] | None]
    zoho_created_at: Mapped[dt.datetime | None]


class TransferOrderLineItem(Base):
    __tablename__ = "transfer_order_line_items"
    __table_args__ = (UniqueConstraint("transfer_order_id", "zoho_line_item_id"),)

    id: Mapped[intpk]
    transfer_order_id: Mapped[int] = mapped_column(ForeignKey("transfer_orders.id", ondelete="CASCADE"))
    zoho_line_item_id: Mapped[ZohoId]
    zoho_item_id: Mapped[ZohoId | None]
    item_order: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None]
    description: Mapped[str | None]
    sku: Mapped[str | None]
    unit: Mapped[str | None]
    quantity_transfer: Mapped[Money | None]


class CompositeItem(SyncedMixin, Base):
    """A Zoho composite item (kit / assembly); its components are `composite_item_components`."""

    __tablename__ = "composite_items"
    zoho_key = "zoho_composite_item_id"

    zoho_composite_item_id: Mapped[ZohoId] = mapped_column(unique=True)
    name: Mapped[str | None]
    sku: Mapped[str | None]
    unit: Mapped[str | None]
    description: Mapped[str | None]
    status: Mapped[str | None]
    combo_type: Mapped[str | None]
    item_type: Mapped[str | None]
    product_type: Mapped[str | None]
    brand: Mapped[str | None]
    manufacturer: Mapped[str | None]
    zoho_category_id: Mapped[ZohoId | None]
    category_name: Mapped[str | None]
    unit_price: Mapped[Money | None]
    cost_price: Mapped[Money | None]
    tax_name: Mapped[str | None]
    tax_percentage: Mapped[Money | None]
    stock_on_hand: Mapped[Money | None]
    available_stock: Mapped[Money | None]
    reorder_level: Mapped[Money | None]
    ean: Mapped[str | None]
    upc: Mapped[str | None]
    isbn: Mapped[str | None]
    part_number: Mapped[str | None]
    image_name: Mapped[str | None]
    custom_fields: Mapped[dict[str, Any] | None]
    zoho_created_at: Mapped[dt.datetime | None]


class CompositeItemComponent(Base):
    """One component (`mapped_items[]`) of a composite item: which item, how many."""

    __tablename__ = "composite_item_components"
    __table_args__ = (UniqueConstraint("composite_item_id", "zoho_line_item_id"),)

    id: Mapped[intpk]
    composite_item_id: Mapped[int] = mapped_column(ForeignKey("composite_items.id", ondelete="CASCADE"))
    zoho_line_item_id: Mapped[ZohoId]
    zoho_item_id: Mapped[ZohoId | None] = mapped_column(index=True)
    item_order: Mapped[int | None] = mapped_column(Integer)
    name: Mapped[str | None]
    sku: Mapped[str | None]
    unit: Mapped[str | None]
    description: Mapped[str | None]
    quantity: Mapped[Money | None]
    rate: Mapped[Money | None]
    purchase_rate: Mapped[Money | None]
    is_combo_product: Mapped[bool | None]


class ItemGroup(SyncedMixin, Base):
    """A Zoho item group (items sharing attributes such as size or colour)."""

    __tablename__ = "item_groups"
    zoho_key = "zoho_group_id"

    zoho_group_id: Mapped[ZohoId] = mapped_column(unique=True)
    group_name: Mapped[str | None]
    description: Mapped[str | None]
    brand: Mapped[str | None]
    manufacturer: Mapped[str | None]
    unit: Mapped[str | None]
    product_type: Mapped[str | None]
    status: Mapped[str | None]
    is_taxable: Mapped[bool | None]
    tax_name: Mapped[str | None]
    tax_percentage: Mapped[Money | None]
    attribute_name1: Mapped[str | None]
    attribute_name2: Mapped[str | None]
    attribute_name3: Mapped[str | None]
    image_name: Mapped[str | None]
    item_count: Mapped[int | None] = mapped_column(Integer)
    zoho_item_ids: Mapped[list[Any] | None]
    """The Zoho ids of the group's items (`items[]`), in Zoho's order."""
    custom_fields: Mapped[dict[str, Any] | None]
    zoho_created_at: Mapped[dt.datetime | None]


class VendorCredit(_VendorDocument, Base):
    """A Zoho Books vendor credit (a debit note from a vendor): header like the other documents."""

    __tablename__ = "vendor_credits"
    zoho_key = "zoho_vendor_credit_id"

    zoho_vendor_credit_id: Mapped[ZohoId] = mapped_column(unique=True)
    vendor_credit_number: Mapped[str | None]
    vendor_credit_date: Mapped[dt.date | None]
    is_inclusive_tax: Mapped[bool | None]
    discount_amount: Mapped[Money | None]
    custom_fields: Mapped[dict[str, Any] | None]
    total_credits_used: Mapped[Money | None]
    total_refunded_amount: Mapped[Money | None]


class VendorCreditLineItem(_LineItem, Base):
    __tablename__ = "vendor_credit_line_items"
    __table_args__ = (UniqueConstraint("vendor_credit_id", "zoho_line_item_id"),)

    vendor_credit_id: Mapped[int] = mapped_column(ForeignKey("vendor_credits.id", ondelete="CASCADE"))
    zoho_account_id: Mapped[ZohoId | None]
    account_name: Mapped[str | None]

"""ERP tables: one typed model per Zoho entity, each keyed by its unique Zoho id.

Every main table carries `zoho_last_modified_at` (newest wins), `last_synced_at`,
`is_active` (a delete deactivates, never drops) and `raw` (the Zoho record as
received, for fields not mapped yet). Line tables point at their parent's `id`.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, UniqueConstraint, func, text
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


class Product(SyncedMixin, Base):
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


class _Contact(SyncedMixin, AddressMixin):
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


class Customer(_Contact, Base):
    __tablename__ = "customers"

    outstanding_receivable: Mapped[Money | None]
    unused_credits: Mapped[Money | None]


class Vendor(_Contact, Base):
    __tablename__ = "vendors"

    outstanding_payable: Mapped[Money | None]
    unused_credits: Mapped[Money | None]

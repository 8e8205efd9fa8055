"""Zoho Books contact posted or pulled as a vendor → filed by its own `contact_type` (default: vendors)."""
from models.erp import Vendor
from zoho.entities import ApiSource, Entity
from zoho.transformers.contacts import ContactSchema, contact_tombstone, contact_transform

ENTITY = Entity(
    name="vendors",
    record_keys={"contact": "contact_id", "vendor": "contact_id", "customer": "contact_id"},
    schema=ContactSchema,
    transform=contact_transform("vendors"),
    model=Vendor,
    sources=(ApiSource("books", "/contacts", "contacts", "contact", params={"contact_type": "vendor"}, sortable=True),),
    on_delete=contact_tombstone("vendors"),
)

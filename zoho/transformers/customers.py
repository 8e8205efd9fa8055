"""Zoho Books contact posted or pulled as a customer → filed by its own `contact_type` (default: customers)."""
from models.erp import Customer
from zoho.entities import ApiSource, Entity
from zoho.transformers.contacts import ContactSchema, contact_tombstone, contact_transform

ENTITY = Entity(
    name="customers",
    record_keys={"contact": "contact_id", "customer": "contact_id", "vendor": "contact_id"},
    schema=ContactSchema,
    transform=contact_transform("customers"),
    model=Customer,
    sources=(ApiSource("books", "/contacts", "contacts", "contact", params={"contact_type": "customer"}, sortable=True),),
    on_delete=contact_tombstone("customers"),
)

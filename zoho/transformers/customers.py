"""Zoho Books contact of type customer → `customers` row."""
from models.erp import Customer
from zoho.entities import ApiSource, Entity
from zoho.transformers.contacts import ContactSchema, CustomerMapper, contact_transform

ENTITY = Entity(
    name="customers",
    record_keys={"contact": "contact_id", "customer": "contact_id"},
    schema=ContactSchema,
    transform=contact_transform(Customer, CustomerMapper),
    model=Customer,
    sources=(ApiSource("books", "/contacts", "contacts", "contact", params={"contact_type": "customer"}, sortable=True),),
)

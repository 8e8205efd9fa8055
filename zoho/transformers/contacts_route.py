"""The `contacts` route: any Zoho Books contact, filed by its own `contact_type` (none: customers).

Zoho Books has one Contacts module, so one webhook can serve customers and vendors alike.
It has no pull of its own: the `customers` and `vendors` pulls read `/contacts` by type
and file the same way.
"""
from models.erp import Customer
from zoho.entities import Entity
from zoho.transformers.contacts import ContactSchema, contact_tombstone, contact_transform

ENTITY = Entity(
    name="contacts",
    record_keys={"contact": "contact_id", "customer": "contact_id", "vendor": "contact_id"},
    schema=ContactSchema,
    transform=contact_transform("customers"),
    model=Customer,
    on_delete=contact_tombstone("customers"),
)

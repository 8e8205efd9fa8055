"""Zoho Books contact of type vendor → `vendors` row."""
from models.erp import Vendor
from zoho.entities import ApiSource, Entity
from zoho.transformers.contacts import ContactSchema, VendorMapper, contact_transform

ENTITY = Entity(
    name="vendors",
    record_keys={"contact": "contact_id", "vendor": "contact_id"},
    schema=ContactSchema,
    transform=contact_transform(Vendor, VendorMapper),
    model=Vendor,
    sources=(ApiSource("books", "/contacts", "contacts", "contact", params={"contact_type": "vendor"}, sortable=True),),
)

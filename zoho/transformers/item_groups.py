"""Zoho Inventory item group → `item_groups` row (its items' ids listed; the items themselves are products).

The list (`/itemgroups`) carries each group whole, items included, and takes no filter:
a pull compares versions locally and needs no detail GET.
"""
from __future__ import annotations

from models.erp import ItemGroup
from models.records import Record
from zoho.entities import ApiSource, Entity
from zoho.fields import ZohoId, to_bool, to_datetime, to_decimal, to_text, to_zoho_id
from zoho.mapper import SKIP, SyncedMapper, TransformContext, mapping
from zoho.transformers.lenient import CustomFields, Lenient, LenientSchema, as_rows, lenient_id


class ItemGroupSchema(LenientSchema):
    group_id = ZohoId(required=True)


class ItemGroupMapper(Lenient, CustomFields, SyncedMapper):
    """`is_active` follows Zoho's `status`, as for products."""

    direct = (
        ("group_id", "zoho_group_id", to_zoho_id),
        ("description", "description", to_text),
        ("brand", "brand", to_text),
        ("manufacturer", "manufacturer", to_text),
        ("unit", "unit", to_text),
        ("product_type", "product_type", to_text),
        ("status", "status", to_text),
        ("is_taxable", "is_taxable", to_bool),
        ("tax_name", "tax_name", to_text),
        ("tax_percentage", "tax_percentage", to_decimal),
        ("attribute_name1", "attribute_name1", to_text),
        ("attribute_name2", "attribute_name2", to_text),
        ("attribute_name3", "attribute_name3", to_text),
        ("image_name", "image_name", to_text),
        ("created_time", "zoho_created_at", to_datetime),
    )

    @mapping("group_name")
    def group_name(self, r):
        return self.first(r, ("group_name", "name"), to_text)

    @mapping("zoho_item_ids")
    def item_ids(self, r):
        """The group's item ids in Zoho's order (`items[]`, or the single object of Zoho's example)."""
        items = as_rows(r.get("items"))
        if items is None:
            return SKIP
        return [zid for zid in (lenient_id(i.get("item_id")) for i in items) if zid]

    @mapping("item_count")
    def item_count(self, r):
        items = as_rows(r.get("items"))
        return SKIP if items is None else len(items)


def transform(record: dict, ctx: TransformContext) -> list[Record]:
    return [Record(ItemGroup, ItemGroupMapper(ctx).values(record))]


ENTITY = Entity(
    name="item-groups",
    record_keys={"itemgroup": "group_id", "item_group": "group_id"},
    schema=ItemGroupSchema,
    transform=transform,
    model=ItemGroup,
    sources=(ApiSource("inventory", "/itemgroups", "itemgroups", "itemgroup", filters_honoured=False),),
)

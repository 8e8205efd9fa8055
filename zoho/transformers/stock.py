"""Zoho Inventory item → one `stock_levels` row per location, and the item's totals on `products`.

Current organisations list stock per `locations[]` (`location_stock_on_hand`, …), older
ones per `warehouses[]` (`warehouse_stock_on_hand`, …); an item with neither but a
top-level `warehouse_id` is read as one level. Each level refers to its product and
warehouse by Zoho id (`Ref`), so levels of an item or a location that has not arrived
yet still land, on placeholder rows. The product's `available_stock` / `stock_on_hand`
are patched to the sums of the levels written, so the two tables never disagree.

Zoho changes stock without moving the item's `last_modified_time`, so a level of the
same version is rewritten (the puller compares stock by content); an older version
is not. A service item's empty (`""`) stock reads as NULL.

Delete: the levels are kept with their last known quantities; when the delete carries
the item's locations (Zoho's webhook sends the record as it was) they are marked
inactive, as a delete does everywhere else. The product's own delete deactivates it.

Stock without locations: an item with no `locations[]` / `warehouses[]` (organisations
without multiple locations) has only organisation-wide figures. They land on its
`products` row (`stock_on_hand`, `available_stock`, …), created as a placeholder if the
product has not arrived; no `stock_levels` row is invented for a location that does not
exist. That write carries no version, so it never makes the product look synced.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

from marshmallow import EXCLUDE, Schema, fields

from models.erp import Product, StockLevel, Warehouse
from models.records import Patch, Record, Ref
from zoho.entities import ApiSource, Entity
from zoho.errors import MappingError
from zoho.fields import ZohoDateTime, ZohoDecimal, ZohoId, ZohoText, to_decimal, to_text, to_zoho_id
from zoho.mapper import Mapper, TransformContext, last_modified

QUANTITIES = (
    "stock_on_hand",
    "available_stock",
    "actual_available_stock",
    "committed_stock",
    "actual_committed_stock",
    "available_for_sale_stock",
    "actual_available_for_sale_stock",
)


class LevelSchema(Schema):
    """One entry of `locations[]` or `warehouses[]`: ids as text, quantities as numbers or `""`."""

    class Meta:
        unknown = EXCLUDE

    location_id = ZohoId(allow_none=True)
    warehouse_id = ZohoId(allow_none=True)
    status = ZohoText(allow_none=True)
    location_stock_on_hand = ZohoDecimal(allow_none=True)
    location_available_stock = ZohoDecimal(allow_none=True)
    location_actual_available_stock = ZohoDecimal(allow_none=True)
    location_committed_stock = ZohoDecimal(allow_none=True)
    location_actual_committed_stock = ZohoDecimal(allow_none=True)
    location_available_for_sale_stock = ZohoDecimal(allow_none=True)
    location_actual_available_for_sale_stock = ZohoDecimal(allow_none=True)
    warehouse_stock_on_hand = ZohoDecimal(allow_none=True)
    warehouse_available_stock = ZohoDecimal(allow_none=True)
    warehouse_actual_available_stock = ZohoDecimal(allow_none=True)
    warehouse_committed_stock = ZohoDecimal(allow_none=True)
    warehouse_actual_committed_stock = ZohoDecimal(allow_none=True)
    warehouse_available_for_sale_stock = ZohoDecimal(allow_none=True)
    warehouse_actual_available_for_sale_stock = ZohoDecimal(allow_none=True)


class StockItemSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    item_id = ZohoId(required=True)
    warehouse_id = ZohoId(allow_none=True)
    stock_on_hand = ZohoDecimal(allow_none=True)
    available_stock = ZohoDecimal(allow_none=True)
    last_modified_time = ZohoDateTime(allow_none=True)
    locations = fields.List(fields.Nested(LevelSchema), allow_none=True)
    warehouses = fields.List(fields.Nested(LevelSchema), allow_none=True)


def levels(record: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(prefix, entry) per level: `location_` entries, else `warehouse_` ones, else the item itself."""
    for key, prefix in (("locations", "location_"), ("warehouses", "warehouse_")):
        entries = record.get(key)
        if isinstance(entries, list) and entries:
            return [(prefix, e) for e in entries if isinstance(e, dict)]
    if to_text(record.get("warehouse_id")) or to_text(record.get("location_id")):
        return [("", record)]
    return []


def _sum(values: list[Decimal | None]) -> Decimal | None:
    known = [v for v in values if v is not None]
    return sum(known, Decimal(0)) if known else None


def _quantity(entry: dict[str, Any], name: str, ctx: TransformContext | None) -> Any:
    try:
        return Mapper.read(entry, name, to_decimal)
    except MappingError:
        if ctx is not None:
            ctx.warn(name)
        return None


def level_records(record: dict[str, Any], active: bool | None = None,
                  ctx: TransformContext | None = None) -> list[Record]:
    """One `StockLevel` record per level; `active` forces `is_active` (a delete passes False)."""
    item_id = Mapper.read(record, "item_id", to_zoho_id)
    version = last_modified(record)
    out = []
    for prefix, entry in levels(record):
        warehouse_id = Mapper.read(entry, "location_id", to_zoho_id) or Mapper.read(entry, "warehouse_id", to_zoho_id)
        if not warehouse_id:
            continue
        values: dict[str, Any] = {
            "product_id": Ref(Product, item_id),
            # A location first met here gets its name now, not blank until the warehouses pull.
            "warehouse_id": Ref(Warehouse, warehouse_id, placeholder=(
                ("name", Mapper.read(entry, "location_name", to_text)
                 or Mapper.read(entry, "warehouse_name", to_text)),)),
            "zoho_item_id": item_id,
            "zoho_warehouse_id": warehouse_id,
            "zoho_last_modified_at": version,
        }
        for q in QUANTITIES:
            values[q] = _quantity(entry, f"{prefix}{q}", ctx)
        status = (Mapper.read(entry, "status", to_text) or "active").lower() if prefix else "active"
        values["is_active"] = (status != "inactive") if active is None else active
        out.append(Record(StockLevel, values, conflict=("product_id", "warehouse_id")))
    return out


ORG_WIDE = ("stock_on_hand", "available_stock")


def organisation_stock(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    """The item's organisation-wide stock on its product row, when it names no location."""
    item_id = Mapper.read(record, "item_id", to_zoho_id)
    values: dict[str, Any] = {"zoho_item_id": item_id}
    for q in ORG_WIDE:
        if q in record:
            try:
                values[q] = Mapper.read(record, q, to_decimal)
            except MappingError:
                ctx.warn(q)
    if len(values) == 1:
        return []
    # No version: the product's own sync decides `zoho_last_modified_at`; newest-wins is moot here
    # because Zoho moves stock without moving the item's last_modified_time.
    values["zoho_last_modified_at"] = None
    return [Record(Product, values)]


def transform(record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    if not levels(record):
        return organisation_stock(record, ctx)
    records = level_records(record, ctx=ctx)
    if records:
        totals = {
            "available_stock": _sum([r.values["available_stock"] for r in records]),
            "stock_on_hand": _sum([r.values["stock_on_hand"] for r in records]),
        }
        # On every level: any one of them that is written brings the totals along.
        for r in records:
            r.patches.append(Patch(Product, r.values["zoho_item_id"], totals))
    return records


def deactivate_levels(entity: Entity, record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    """An item's delete keeps its levels (history) and marks those it names inactive."""
    return level_records(record, active=False)


# The very source products read: one page of /items feeds both entities.
ITEMS = ApiSource("inventory", "/items", "items", "item", sortable=True)

ENTITY = Entity(
    name="stock",
    record_keys={"item": "item_id"},
    schema=StockItemSchema,
    transform=transform,
    model=StockLevel,
    sources=(ITEMS,),
    on_delete=deactivate_levels,
)

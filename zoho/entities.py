"""The entity registry: every Zoho entity once, with everything that falls out of it.

Routes (`/api/zoho/webhooks/<name>`), queues (`sync.<name>`), task names
(`sync.<name>.process`), bulk-pull sources and reconciliation all read this list.
Adding an entity: a transformer module declaring `ENTITY`, its model in
`models/erp.py`, and one line in `_MODULES` below.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from marshmallow import Schema

from models.records import Record
from zoho.errors import MappingError
from zoho.fields import to_zoho_id
from zoho.mapper import TransformContext, last_modified

VERSION_FIELDS = ("last_modified_time", "updated_time")


ENVELOPE_ALIASES: Mapping[str, tuple[str, ...]] = MappingProxyType({
    # Zoho spells several envelope keys two ways (Books vs Inventory, list vs detail; the
    # OpenAPI specs in zoho-openapi/ show both): every spelling is read, the canonical first.
    "salesorder": ("sales_order",),
    "salesorders": ("sales_orders",),
    "purchaseorder": ("purchase_order",),
    "purchaseorders": ("purchase_orders",),
    "creditnote": ("credit_note",),
    "creditnotes": ("credit_notes",),
    "payment": ("customerpayment", "customer_payment"),
    "customerpayments": ("customer_payments",),
    "vendorpayment": ("vendor_payment",),
    "vendorpayments": ("vendor_payments",),
    "pricebook": ("price_book", "pricelist", "price_list"),
    "pricebooks": ("price_books", "pricelists", "price_lists"),
    "location": ("warehouse",),
    "warehouse": ("location",),
    # the later modules (zoho-openapi/*.yml spell them with underscores; Books without)
    "vendor_credit": ("vendorcredit",), "vendorcredit": ("vendor_credit",),
    "vendor_credits": ("vendorcredits",), "vendorcredits": ("vendor_credits",),
    "itemgroup": ("item_group",), "item_group": ("itemgroup",),
    "itemgroups": ("item_groups",), "item_groups": ("itemgroups",),
    "inventory_adjustment": ("inventoryadjustment",), "inventoryadjustment": ("inventory_adjustment",),
    "inventory_adjustments": ("inventoryadjustments",), "inventoryadjustments": ("inventory_adjustments",),
    "transfer_order": ("transferorder",), "transferorder": ("transfer_order",),
    "transfer_orders": ("transferorders",), "transferorders": ("transfer_orders",),
    "composite_item": ("compositeitem",), "compositeitem": ("composite_item",),
    "composite_items": ("compositeitems",), "compositeitems": ("composite_items",),
})


def envelope_keys(key: str) -> tuple[str, ...]:
    """`key` and every other spelling Zoho uses for it."""
    return (key, *ENVELOPE_ALIASES.get(key, ()))


@dataclass(frozen=True)
class ApiSource:
    """Where a bulk pull reads an entity: `GET {service}/{path}` → rows under `list_key`."""

    service: str  # "books" | "inventory"
    path: str
    list_key: str
    record_key: str
    params: Mapping[str, str] = field(default_factory=dict)
    detail: bool = False  # list rows lack line items: fetch `{path}/{id}` for changed rows
    filters_honoured: bool = True  # False: Zoho ignores last_modified_time here; compare locally
    sortable: bool = False  # Zoho sorts this list by last_modified_time: pages can follow the cursor
    # Where Zoho has moved a list (`/locations` on current organisations, `/settings/warehouses`
    # or `/warehouses` on older ones): tried in order when this path answers "no such URL".
    fallbacks: tuple["ApiSource", ...] = ()

    def rows_in(self, body: Mapping[str, Any]) -> Any:
        """The list rows of a list answer, under `list_key` or another spelling of it ([] if none)."""
        for key in envelope_keys(self.list_key):
            if body.get(key) is not None:
                return body[key]
        return []

    def record_in(self, body: Mapping[str, Any]) -> Any:
        """The record of a detail answer, under `record_key` or another spelling of it (None if none)."""
        for key in envelope_keys(self.record_key):
            if isinstance(body.get(key), dict):
                return body[key]
        return None

    @property
    def key(self) -> str:
        """Stable name of this list (cursor key): service, path and fixed parameters."""
        params = "&".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.service}:{self.path}" + (f"?{params}" if params else "")


def tombstone(entity: "Entity", record: dict[str, Any], ctx: TransformContext) -> list[Record]:
    """Default delete: mark the main row inactive (creating it inactive if it never arrived)."""
    zoho_id = entity.record_id(record)
    return [
        Record(
            entity.model,
            {entity.model.zoho_key: zoho_id, "is_active": False, "zoho_last_modified_at": last_modified(record)},
        )
    ]


_validators: dict[str, Schema] = {}


@dataclass(frozen=True)
class Entity:
    name: str
    record_keys: Mapping[str, str]  # body key → id field, first is canonical
    schema: type[Schema]
    transform: Callable[[dict[str, Any], TransformContext], list[Record]]
    model: type
    sources: tuple[ApiSource, ...] = ()
    on_delete: Callable[["Entity", dict[str, Any], TransformContext], list[Record]] = tombstone

    @property
    def validator(self) -> Schema:
        """One schema instance per entity: building a marshmallow Schema deep-copies its fields."""
        cached = _validators.get(self.name)
        if cached is None:
            cached = _validators[self.name] = self.schema()
        return cached

    @property
    def queue(self) -> str:
        return f"sync.{self.name}"

    @property
    def task_name(self) -> str:
        return f"sync.{self.name}.process"

    @property
    def record_key(self) -> str:
        return next(iter(self.record_keys))

    def unwrap(self, body: Any) -> tuple[str, dict[str, Any]] | None:
        """The record inside a webhook / detail body: `{"item": {...}}`, or a bare record."""
        if not isinstance(body, dict):
            return None
        for key in self.record_keys:
            if isinstance(body.get(key), dict):
                return key, body[key]
        for key, id_field in self.record_keys.items():
            if id_field in body:
                return key, body
        return None

    def record_id(self, record: dict[str, Any]) -> str:
        for id_field in self.record_keys.values():
            value = record.get(id_field)
            if value not in (None, ""):
                try:
                    zid = to_zoho_id(value)
                except ValueError as e:
                    raise MappingError(f"{id_field}: {e}") from e
                if zid:
                    return zid
        raise MappingError(f"{self.name}: record has no {' / '.join(self.record_keys.values())}")

    def check(self, record: dict[str, Any], operation: str = "upsert") -> tuple[dict[str, Any], list[str]]:
        """The receiver's validation: (fatal errors, shape warnings).

        Fatal is only what makes the record unusable: no readable id, an unreadable
        version (`last_modified_time`). Any other field of an unexpected shape (an array
        of addresses, an object where a number belongs) is a shape warning: the record is
        accepted, kept verbatim in `raw`, and lands with the fields that were usable.
        """
        errors = self.validator.validate(record, partial=operation == "delete")
        strict = set(self.record_keys.values()) | set(VERSION_FIELDS)
        fatal = {k: v for k, v in errors.items() if k in strict}
        warnings = sorted(k for k in errors if k not in strict)
        if not fatal:
            try:
                self.record_id(record)
            except MappingError as e:
                fatal[next(iter(self.record_keys.values()))] = [str(e)]
            try:
                last_modified(record)
            except MappingError as e:
                fatal["last_modified_time"] = [str(e)]
        return fatal, warnings

    def to_records(self, record: dict[str, Any], ctx: TransformContext) -> list[Record]:
        if ctx.operation == "delete":
            return self.on_delete(self, record, ctx)
        return self.transform(record, ctx)


_MODULES = (
    "products",
    "customers",
    "vendors",
    "invoices",
    "bills",
    "credit_notes",
    "stock",
    "prices",
    "warehouses",
    "payments",
    "sales_orders",
    "purchase_orders",
    "contacts_route",
    "inventory_adjustments",
    "transfer_orders",
    "composite_items",
    "item_groups",
    "vendor_credits",
)

_registry: dict[str, Entity] | None = None


def registry() -> Mapping[str, Entity]:
    global _registry
    if _registry is None:
        found = {}
        for mod in _MODULES:
            entity = importlib.import_module(f"zoho.transformers.{mod}").ENTITY
            found[entity.name] = entity
        _registry = found
    return MappingProxyType(_registry)


def get_entity(name: str) -> Entity | None:
    return registry().get(name)


def entity_names() -> list[str]:
    return list(registry())

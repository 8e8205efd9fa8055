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

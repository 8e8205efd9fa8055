"""What the five later entities share: lenient mapping, custom fields, and a header-with-lines transform.

Issue 13's rule: a record Zoho really sends is never refused for a field of an unexpected
shape. Only the id, a readable `last_modified_time` and the envelope are hard requirements;
any other value that cannot be read (an object where a number belongs, text that is no
number) leaves its column out, is noted on the context when it can take a warning, and the
record lands with the value kept verbatim in `raw`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from marshmallow import EXCLUDE, Schema

from models.records import Children, Record
from zoho.errors import MappingError
from zoho.fields import ZohoDateTime, custom_fields_of, to_text, to_zoho_id
from zoho.mapper import SKIP, Mapper, TransformContext, mapping
from zoho.transformers.documents import LINE_KEY, unique_keys

STRICT_COLUMNS = frozenset({"zoho_last_modified_at"})
"""The one column whose unreadable value makes a record unusable: its version."""


class LenientSchema(Schema):
    """The receiver's check for the later entities: the id (declared by each subclass) and the version only."""

    class Meta:
        unknown = EXCLUDE

    last_modified_time = ZohoDateTime(allow_none=True)


class Lenient:
    """Mapper mixin (put it first): an unreadable field leaves its column out instead of refusing the record."""

    ctx: TransformContext
    direct: tuple
    _mappings: tuple

    def _warn(self, where: str) -> None:
        warn = getattr(self.ctx, "warn", None)
        if callable(warn):
            warn(where)

    def values(self, record: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for zoho_field, column, reader in self.direct:
            if zoho_field in record:
                try:
                    out[column] = self.read(record, zoho_field, reader)
                except MappingError:
                    self._warn(zoho_field)
        for column, method in self._mappings:
            try:
                value = getattr(self, method)(record)
            except MappingError:
                if column in STRICT_COLUMNS:
                    raise
                self._warn(column)
                continue
            if value is not SKIP:
                out[column] = value
        return out

    @staticmethod
    def read(record: dict[str, Any], zoho_field: str, reader: Callable[[Any], Any] = to_text) -> Any:
        """One scalar field; an object or array where a scalar belongs is unreadable, not text."""
        value = record.get(zoho_field)
        if isinstance(value, (dict, list)):
            raise MappingError(f"field {zoho_field!r}: expected a scalar, got {type(value).__name__}")
        try:
            return reader(value)
        except (ValueError, TypeError) as e:
            raise MappingError(f"field {zoho_field!r}: {e}") from e

    def first(self, record: dict[str, Any], names: tuple[str, ...], reader: Callable[[Any], Any] = to_text) -> Any:
        for name in names:
            if name in record:
                return self.read(record, name, reader)
        return SKIP


class CustomFields:
    """Mapper mixin: the record's custom fields as one JSONB column."""

    @mapping("custom_fields")
    def custom_fields(self, r):
        found = custom_fields_of(r)
        return SKIP if found is None else found


def as_rows(value: Any) -> list[dict[str, Any]] | None:
    """A nested list as rows: Zoho's array, or the single object some of its examples show; None when absent."""
    if isinstance(value, dict):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, dict)]
    return None


def lenient_id(value: Any) -> str | None:
    if isinstance(value, (dict, list)):
        return None
    try:
        return to_zoho_id(value)
    except ValueError:
        return None


def child_rows(lines: list[dict[str, Any]], mapper: Mapper, fallback_id: str | None = None) -> list[dict[str, Any]]:
    """Rows keyed by `line_item_id`, else `item:<fallback id>` when given, else `idx:<item_order or position>`."""
    rows, keys = [], []
    for position, line in enumerate(lines, start=1):
        row = mapper.values(line)
        key = lenient_id(line.get("line_item_id"))
        if not key and fallback_id:
            other = lenient_id(line.get(fallback_id))
            key = f"item:{other}" if other else None
        order = row.get("item_order")
        keys.append(key or f"idx:{order if order is not None else position}")
        rows.append(row)
    for row, key in zip(rows, unique_keys(keys)):
        row[LINE_KEY] = key
    return rows


@dataclass(frozen=True)
class WithLines:
    """A main record and its complete child set (lines, components), replaced as a whole by a newer version.

    A record without the child list (a list row) leaves the stored children alone.
    """

    model: type
    mapper: type[Mapper]
    child_model: type
    parent_fk: str
    child_mapper: type[Mapper]
    children_field: str = "line_items"
    fallback_id: str | None = None

    def transform(self, record: dict[str, Any], ctx: TransformContext) -> list[Record]:
        values = self.mapper(ctx).values(record)
        children = []
        lines = as_rows(record.get(self.children_field))
        if lines is not None:
            rows = child_rows(lines, self.child_mapper(ctx), self.fallback_id)
            children.append(Children(self.child_model, self.parent_fk, LINE_KEY, rows))
        return [Record(self.model, values, children=children)]

"""Declarative mapping from a Zoho record (dict) to ERP column values.

A mapper lists one-to-one fields in `direct` as `(zoho_field, column, reader)` and
computes every derived column in a small method decorated with `@mapping("column")`.
Mapping has no I/O; a reader that cannot read a value raises `MappingError`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

from zoho.errors import MappingError
from zoho.fields import custom_fields_of, to_datetime, to_text


@dataclass(frozen=True)
class TransformContext:
    """What a transformer may know beyond the record: the operation and configured names."""

    entity: str
    operation: str = "upsert"
    record_key: str = ""  # the body key the record came under (`payment` vs `vendorpayment`)
    consumer_pricebook: str = "Consumer Price List"
    wholesale_pricebook: str = "Wholesale Price List"
    warnings: list[str] = field(default_factory=list, compare=False, hash=False)
    """Fields left out because their shape was unexpected (the record still lands; `raw` keeps them)."""

    def warn(self, where: str) -> None:
        self.warnings.append(where)


def mapping(column: str) -> Callable[[Callable], Callable]:
    """Mark a mapper method as the producer of `column` (it may return `SKIP` to leave it unset)."""

    def mark(fn: Callable) -> Callable:
        fn._mapping_column = column  # type: ignore[attr-defined]
        return fn

    return mark


SKIP = object()
"""Returned by a `@mapping` method to leave the column out (keep whatever the ERP has)."""


STRICT_COLUMNS = frozenset({"zoho_last_modified_at"})
"""Columns whose unreadable value makes the record unusable (its version); every other column is
left out with a shape warning instead."""


class Mapper:
    direct: ClassVar[tuple[tuple[str, str, Callable[[Any], Any]], ...]] = ()
    _mappings: ClassVar[tuple[tuple[str, str], ...]] = ()

    def __init_subclass__(cls, **kw):
        super().__init_subclass__(**kw)
        found = {}
        for klass in reversed(cls.__mro__):
            for name, attr in vars(klass).items():
                col = getattr(attr, "_mapping_column", None)
                if col:
                    found[col] = name
        cls._mappings = tuple(found.items())

    def __init__(self, ctx: TransformContext):
        self.ctx = ctx

    def values(self, record: dict[str, Any]) -> dict[str, Any]:
        """Column values; a Zoho field absent from the record leaves its column out.

        List rows are summaries of the detail record: a column is only written when the
        record carries the field (`""` or null then means "empty" and writes NULL), so a
        pulled list row never blanks what a full webhook record filled in.

        A value of an unexpected shape (an object where a number was expected, text that is
        no number) leaves its column out and is noted in `ctx.warnings`; only the version
        (`STRICT_COLUMNS`) is fatal.
        """
        out: dict[str, Any] = {}
        for zoho_field, column, reader in self.direct:
            if zoho_field in record:
                try:
                    out[column] = self.read(record, zoho_field, reader)
                except MappingError:
                    if column in STRICT_COLUMNS:
                        raise
                    self.ctx.warn(zoho_field)
        for column, method in self._mappings:
            try:
                value = getattr(self, method)(record)
            except MappingError as e:
                if column in STRICT_COLUMNS:
                    raise
                self.ctx.warn(getattr(e, "field", None) or column)
                continue
            if value is not SKIP:
                out[column] = value
        return out

    @staticmethod
    def read(record: dict[str, Any], zoho_field: str, reader: Callable[[Any], Any] = to_text) -> Any:
        """One field through a scalar reader; an object or array where a scalar belongs is a `MappingError`."""
        value = record.get(zoho_field)
        if isinstance(value, (dict, list)):
            err = MappingError(f"field {zoho_field!r}: expected a scalar, got {type(value).__name__}")
            err.field = zoho_field  # type: ignore[attr-defined]
            raise err
        try:
            return reader(value)
        except (ValueError, TypeError) as e:
            err = MappingError(f"field {zoho_field!r}: {e}")
            err.field = zoho_field  # type: ignore[attr-defined]
            raise err from e

    def first(self, record: dict[str, Any], names: tuple[str, ...], reader: Callable[[Any], Any] = to_text) -> Any:
        """The first of `names` the record carries (Zoho renames fields across APIs), else `SKIP`."""
        for name in names:
            if name in record:
                return self.read(record, name, reader)
        return SKIP


def is_active_status(record: dict[str, Any]) -> Any:
    """Zoho `status` "inactive" → False, any other status → True; no status → leave it."""
    if "status" not in record:
        return SKIP
    return (to_text(record.get("status")) or "active").lower() != "inactive"


class SyncedMapper(Mapper):
    """The columns every synced ERP table shares: the Zoho version, the raw record, the active flag.

    `is_active` follows Zoho's `status` by default; a mapper whose records have no
    "inactive" status (documents, payments) overrides it.
    """

    @mapping("is_active")
    def is_active(self, r):
        return is_active_status(r)

    @mapping("zoho_last_modified_at")
    def zoho_last_modified_at(self, r):
        return last_modified(r)

    @mapping("raw")
    def raw(self, r):
        return r


class CustomFieldsMapper(SyncedMapper):
    """A main record that keeps Zoho's custom fields in `custom_fields` (JSONB)."""

    @mapping("custom_fields")
    def custom_fields(self, r):
        found = custom_fields_of(r)
        return SKIP if found is None else found


def last_modified(record: dict[str, Any]) -> Any:
    """The record's version: `last_modified_time`, else `updated_time`, else None."""
    for name in ("last_modified_time", "updated_time"):
        value = record.get(name)
        if value not in (None, ""):
            try:
                return to_datetime(value)
            except ValueError as e:
                raise MappingError(f"field {name!r}: {e}") from e
    return None

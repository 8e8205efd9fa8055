"""What a transformer returns: plain descriptions of ERP rows, applied by `models.upsert`.

Transformers stay pure by describing rows instead of writing them. A `Ref` stands for
another synced row known only by its Zoho id (a product a stock level belongs to);
the upsert layer resolves it, creating a placeholder row when the parent has not
arrived yet, so a record is never dropped for want of its parent.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Ref:
    """The integer `id` of `model`'s row whose Zoho key is `zoho_id` (placeholder if missing)."""

    model: type
    zoho_id: str
    placeholder: tuple[tuple[str, Any], ...] = ()
    """Columns a placeholder row starts with (a stock level names its warehouse): better than blank
    until the parent's own record arrives and overwrites them."""


@dataclass
class Children:
    """The complete set of line rows of a record: rows absent here are deleted when it applies."""

    model: type
    parent_fk: str
    key: str
    rows: list[dict[str, Any]]


@dataclass
class Patch:
    """Columns of another synced row (by Zoho id) set when the record applies."""

    model: type
    zoho_id: str
    values: dict[str, Any]


@dataclass
class Record:
    """One main row to upsert, keyed by `conflict` (default: the model's Zoho key column).

    `values` carries `zoho_last_modified_at` (None when Zoho gives none): the row is written
    only if it is not older than the stored one (newest wins; ties apply unless the stored
    row was deactivated by a delete of the same version).
    """

    model: type
    values: dict[str, Any]
    children: list[Children] = field(default_factory=list)
    patches: list[Patch] = field(default_factory=list)
    conflict: tuple[str, ...] | None = None

    @property
    def conflict_columns(self) -> tuple[str, ...]:
        return self.conflict or (self.model.zoho_key,)

    def conflict_value(self) -> tuple[Any, ...]:
        return tuple(self.values[c] for c in self.conflict_columns)

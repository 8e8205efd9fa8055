"""Helpers for the five later entities' transformer tests: run a body through the receiver's check and
the transformer exactly as the pipeline does, without a database."""
from __future__ import annotations

from typing import Any

from models.records import Record
from zoho.entities import get_entity
from zoho.mapper import TransformContext


def land(entity_name: str, body: dict[str, Any], operation: str = "upsert") -> list[Record]:
    """Unwrap, validate (marshmallow raises on a refused record) and transform one webhook / detail body."""
    entity = get_entity(entity_name)
    assert entity is not None, entity_name
    found = entity.unwrap(body)
    assert found is not None, f"{entity_name}: no record in {sorted(body)}"
    key, record = found
    entity.validator.load(record, partial=operation == "delete")
    entity.record_id(record)
    return entity.to_records(record, TransformContext(entity=entity_name, operation=operation, record_key=key))


def header(records: list[Record]) -> dict[str, Any]:
    assert len(records) == 1
    return records[0].values


def children(records: list[Record]) -> list[dict[str, Any]] | None:
    """The child rows (lines / components), or None when the record left them alone."""
    found = records[0].children
    if not found:
        return None
    assert len(found) == 1
    return found[0].rows

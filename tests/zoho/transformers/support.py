"""Helpers for transformer tests: load a Zoho fixture, push it through an entity as the pipeline does, read rows."""
from __future__ import annotations

import copy
import datetime as dt
import json
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select

from models.db import session_scope
from models.upsert import ApplyResult, apply_records
from zoho.entities import get_entity
from zoho.mapper import TransformContext

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "zoho"
PLUS3 = dt.timezone(dt.timedelta(hours=3))


def fixture(name: str) -> dict[str, Any]:
    """A fixture file as Zoho answered: a detail body (`{"invoice": {...}}`) or a list page."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def detail(name: str, key: str) -> dict[str, Any]:
    """The record of a detail fixture (a fresh copy, safe to edit)."""
    return copy.deepcopy(fixture(name)[key])


def list_row(name: str, list_key: str, index: int = 0) -> dict[str, Any]:
    return copy.deepcopy(fixture(name)[list_key][index])


def sync(entity_name: str, body: dict[str, Any], operation: str = "upsert", **ctx: Any) -> ApplyResult:
    """What the pipeline does with one event: unwrap, validate, transform, apply in one transaction."""
    entity = get_entity(entity_name)
    assert entity is not None, entity_name
    key, record = entity.unwrap(body)
    fatal, _warnings = entity.check(record, operation)  # the receiver's rule: only an unusable record is refused
    assert not fatal, fatal
    context = TransformContext(entity=entity_name, operation=operation, record_key=key, **ctx)
    records = entity.to_records(record, context)
    with session_scope() as s:
        return apply_records(s, records)


def rows(model: type, order_by: str | None = None, **where: Any) -> list[Any]:
    """Rows of `model`, by default in primary-key order (product_images is keyed by sha256, not `id`)."""
    with session_scope() as s:
        keys = [getattr(model, order_by)] if order_by else list(inspect(model).primary_key)
        stmt = select(model).order_by(*keys)
        for column, value in where.items():
            stmt = stmt.where(getattr(model, column) == value)
        return list(s.execute(stmt).scalars())


def one(model: type, **where: Any) -> Any:
    found = rows(model, **where)
    assert len(found) == 1, f"{model.__tablename__} {where}: {len(found)} rows"
    return found[0]

"""Re-run the current transformers over the Zoho records the ERP already keeps (`raw`): no Zoho call.

New columns (a migration) or a mapping fix reach rows written earlier this way. Each stored
record is transformed again and upserted through the same newest-wins path as any event:
it carries the version it was stored with, so it re-applies on a tie (writing the new
columns) and never overwrites a newer row. A row a delete deactivated stays inactive.
Running it twice changes nothing the first run did not.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text

from models.db import session_scope
from models.settings import get_settings
from models.upsert import apply_records
from zoho.entities import Entity, get_entity, registry
from zoho.errors import SyncError
from zoho.mapper import TransformContext

log = logging.getLogger(__name__)

BATCH = 500
ROUTE_ONLY = {"contacts"}
"""Entities with no table of their own: their records are reprojected through customers / vendors."""


@dataclass
class ReprojectStats:
    entity: str
    total: int = 0
    done: int = 0
    applied: int = 0
    stale: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"entity": self.entity, "rows": self.done, "applied": self.applied, "stale": self.stale,
                "failed": self.failed, "errors": self.errors[:20]}


def source_table(entity: Entity) -> type | None:
    """Where an entity's records are kept: its model's `raw`, else the `raw` of the entity whose API
    pages it shares (stock rides the products' items); None when nothing keeps them."""
    if "raw" in entity.model.__table__.c:
        return entity.model
    for other in registry().values():
        if other is not entity and "raw" in other.model.__table__.c and any(s in other.sources for s in entity.sources):
            return other.model
    return None


def _record_key(entity: Entity, row: Any) -> str:
    """The body key the record arrived under, where it matters (a vendor payment)."""
    if getattr(row, "payment_type", None) == "vendor" and "vendorpayment" in entity.record_keys:
        return "vendorpayment"
    return entity.record_key


def reproject_entity(name: str, *, batch: int = BATCH, progress: Callable[[ReprojectStats], None] | None = None,
                     actor: str = "cli") -> dict[str, Any]:
    """Transform every stored record of `name` again and upsert the result (newest wins)."""
    entity = get_entity(name)
    if entity is None:
        raise ValueError(f"unknown entity {name!r}")
    model = source_table(entity)
    stats = ReprojectStats(name)
    if model is None:
        stats.errors.append("no table keeps this entity's records")
        return stats.summary()
    table, key = model.__tablename__, model.zoho_key
    extra = ", payment_type" if "payment_type" in model.__table__.c else ""
    settings = get_settings()
    with session_scope() as s:
        stats.total = s.execute(text(f"SELECT count(*) FROM {table} WHERE raw IS NOT NULL")).scalar_one()
    if progress:
        progress(stats)
    after = 0
    while True:
        with session_scope() as s:
            rows = s.execute(text(f"SELECT id, {key} AS zoho_id, raw, is_active{extra} FROM {table} "
                                  "WHERE raw IS NOT NULL AND id > :after ORDER BY id LIMIT :n"),
                             {"after": after, "n": batch}).all()
            if not rows:
                break
            after = rows[-1].id
            records = []
            for row in rows:
                ctx = TransformContext(entity=name, operation="upsert", record_key=_record_key(entity, row),
                                       consumer_pricebook=settings.consumer_pricebook,
                                       wholesale_pricebook=settings.wholesale_pricebook)
                try:
                    produced = entity.to_records(dict(row.raw), ctx)
                except (SyncError, ValueError, TypeError, KeyError, AttributeError) as e:
                    stats.failed += 1
                    stats.errors.append(f"{row.zoho_id}: {type(e).__name__}: {e}"[:300])
                    continue
                if not row.is_active:  # a delete deactivated it: fill the columns, never revive it
                    for rec in produced:
                        if rec.model is model and rec.values.get(key) == row.zoho_id and "is_active" in rec.values:
                            rec.values["is_active"] = False
                records.extend(produced)
            result = apply_records(s, records)
            stats.applied += result.applied
            stats.stale += result.stale
            stats.done += len(rows)
        if progress:
            progress(stats)
    with session_scope() as s:  # every lever that changes state is audited
        s.execute(text("INSERT INTO tds_audit_trail (action, actor, entity_type, details) "
                       "VALUES ('reproject', :actor, :e, CAST(:d AS jsonb))"),
                  {"actor": actor, "e": name, "d": json.dumps(stats.summary())})
    log.info("reprojected", extra={"entity": name})
    return stats.summary()


def reprojectable() -> list[str]:
    """Every entity whose records the ERP keeps, in registry order."""
    return [n for n in registry() if n not in ROUTE_ONLY]

"""`reconcile.entity(entity)`: Zoho's ids and versions against the ERP's; what is missing is enqueued.

It reads every list page (no detail GETs unless something differs), then reports:
missing (in Zoho, not in the ERP), stale (the ERP holds an older `last_modified_time`),
extra (active in the ERP, gone from Zoho). Missing and stale records are recorded and
applied through the usual pipeline; extra ones are deactivated through delete events.
The report is kept in `tds_sync_runs` (kind `reconcile`).
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import text

from models.db import get_engine
from tasks import app
from tasks.bulk import PullLocked, pull_entity
from zoho.entities import get_entity
from zoho.errors import PermanentError


def erp_count(entity_name: str) -> int:
    entity = get_entity(entity_name)
    model = entity.model
    with get_engine().connect() as c:
        return c.execute(text(f"SELECT count(*) FROM {model.__tablename__} WHERE is_active "
                              "AND zoho_last_modified_at IS NOT NULL")).scalar_one()


def reconcile_entity(entity_name: str, *, client=None, progress=None) -> dict[str, Any]:
    """A full scan in reconcile mode; returns the differences found and what was enqueued."""
    entity = get_entity(entity_name)
    if entity is None:
        raise PermanentError(f"unknown entity {entity_name!r}")
    before = erp_count(entity_name)
    result = pull_entity(entity_name, full=True, client=client, progress=progress, kind="reconcile")
    missing = result["missing_by"].get(entity_name, 0)
    stale = result["stale_by"].get(entity_name, 0)
    extra = result["deleted_by"].get(entity_name, 0)
    report = {
        "entity": entity_name,
        "run_id": result["run_id"],
        "zoho_count": result["seen_by"].get(entity_name, 0),
        "erp_count_before": before,
        "missing": missing,
        "stale": stale,
        "missing_or_stale": missing + stale,
        "extra_in_erp": extra,
        "differences": missing + stale + extra,
        "enqueued": result["changed_by"].get(entity_name, 0) + extra,
        "api_calls": result["api_calls"],
    }
    with get_engine().begin() as c:
        c.execute(text("UPDATE tds_sync_runs SET details = COALESCE(details, '{}'::jsonb) || CAST(:r AS jsonb) "
                       "WHERE id = :i"), {"r": json.dumps({"report": report}), "i": result["run_id"]})
    return report


@app.task(name="reconcile.entity", acks_late=False, ignore_result=True, soft_time_limit=2 * 3600,
          time_limit=2 * 3600 + 60)
def reconcile(entity: str) -> dict[str, Any]:
    try:
        return reconcile_entity(entity)
    except PullLocked:
        return {"entity": entity, "status": "skipped", "reason": "a pull is running"}

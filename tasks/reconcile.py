"""`reconcile.entity(entity)`: Zoho's ids and versions against the ERP's; what is missing is enqueued.

It reads every list page (no detail GETs unless something differs), then reports:
missing (in Zoho, not in the ERP), stale (the ERP holds an older `last_modified_time`),
extra (active in the ERP, gone from Zoho). Missing and stale records are recorded and
applied through the usual pipeline; extra ones are deactivated through delete events.
The run is a full pull of kind `reconcile` (so it advances page task by page task like any
pull); its report is kept in `tds_sync_runs.details` and as a row of `tds_reconcile_results`,
which the dashboard's "Zoho vs ERP" section reads.
"""
from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import text

from models.db import get_engine
from tasks import app
from tasks.bulk import PullLocked, pull_entity, start_pull
from zoho.entities import get_entity, registry
from zoho.errors import PermanentError


def erp_count(entity_name: str) -> int:
    entity = get_entity(entity_name)
    model = entity.model
    with get_engine().connect() as c:
        return c.execute(text(f"SELECT count(*) FROM {model.__tablename__} WHERE is_active "
                              "AND zoho_last_modified_at IS NOT NULL")).scalar_one()


def match_pct(zoho_count: int, missing: int, stale: int, extra: int) -> Decimal:
    """Share of the records on either side that agree: matched / (Zoho's records + the ERP's extras)."""
    total = zoho_count + extra
    if total <= 0:
        return Decimal("100.00")
    matched = max(zoho_count - missing - stale, 0)
    return (Decimal(matched) * 100 / total).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


def record_result(summary: dict[str, Any]) -> dict[str, Any]:
    """The report of a completed reconcile run, stored in its run row and in `tds_reconcile_results`."""
    name = summary["entity"]
    missing = summary["missing_by"].get(name, 0)
    stale = summary["stale_by"].get(name, 0)
    extra = summary["deleted_by"].get(name, 0)
    zoho_count = summary["seen_by"].get(name, 0)
    report = {
        "entity": name,
        "run_id": summary["run_id"],
        "zoho_count": zoho_count,
        "erp_count": erp_count(name),
        "missing": missing,
        "stale": stale,
        "missing_or_stale": missing + stale,
        "extra_in_erp": extra,
        "differences": missing + stale + extra,
        "match_pct": str(match_pct(zoho_count, missing, stale, extra)),
        "enqueued": summary["changed_by"].get(name, 0) + extra,
        "api_calls": summary["api_calls"],
    }
    with get_engine().begin() as c:
        c.execute(text("UPDATE tds_sync_runs SET details = COALESCE(details, '{}'::jsonb) || CAST(:r AS jsonb) "
                       "WHERE id = :i"), {"r": json.dumps({"report": report}), "i": summary["run_id"]})
        c.execute(text("INSERT INTO tds_reconcile_results (entity_type, run_id, zoho_count, erp_count, missing, stale, "
                       "extra, match_pct, details) VALUES (:e, :r, :z, :erp, :m, :s, :x, :pct, CAST(:d AS jsonb))"),
                  {"e": name, "r": summary["run_id"], "z": zoho_count, "erp": report["erp_count"], "m": missing,
                   "s": stale, "x": extra, "pct": report["match_pct"], "d": json.dumps(report)})
    return report


def reconcile_entity(entity_name: str, *, client=None, progress=None) -> dict[str, Any]:
    """A full scan in reconcile mode, here in this process; returns the differences found and what was enqueued."""
    entity = get_entity(entity_name)
    if entity is None:
        raise PermanentError(f"unknown entity {entity_name!r}")
    before = erp_count(entity_name)
    result = pull_entity(entity_name, full=True, client=client, progress=progress, kind="reconcile")
    report = result.get("report") or {"entity": entity_name, "run_id": result["run_id"], "status": result["status"]}
    report["erp_count_before"] = before
    return report


def reconcilable() -> list[str]:
    """Entities reconciliation can compare (they have a Zoho list of their own)."""
    return [name for name, e in registry().items() if e.sources]


def latest_results() -> list[dict[str, Any]]:
    """Zoho vs ERP per entity: the latest reconciliation of each (never reconciled ones listed empty)."""
    with get_engine().connect() as c:
        rows = c.execute(text(
            "SELECT DISTINCT ON (entity_type) entity_type, run_id, zoho_count, erp_count, missing, stale, extra, "
            "match_pct, reconciled_at FROM tds_reconcile_results ORDER BY entity_type, reconciled_at DESC")).all()
    by_name = {r.entity_type: r for r in rows}
    out = []
    for name in reconcilable():
        r = by_name.get(name)
        out.append({"entity": name, "zoho_count": r.zoho_count if r else None, "erp_count": r.erp_count if r else None,
                    "missing": r.missing if r else None, "stale": r.stale if r else None,
                    "extra": r.extra if r else None, "match_pct": str(r.match_pct) if r else None,
                    "last_reconciled_at": r.reconciled_at.isoformat() if r else None,
                    "run_id": r.run_id if r else None})
    return out


@app.task(name="reconcile.entity", acks_late=False, ignore_result=True)
def reconcile(entity: str) -> dict[str, Any]:
    """Starts the reconcile run; page tasks carry it on like any pull, and its last one stores the report."""
    try:
        return start_pull(entity, full=True, kind="reconcile")
    except PullLocked:
        return {"entity": entity, "status": "skipped", "reason": "a pull is running"}

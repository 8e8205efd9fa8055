"""Bulk-sync levers over HTTP (ADMIN_TOKEN): start pulls, see how the last ones went."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from models.db import get_engine
from tasks.bulk import pull, pull_all
from tasks.publish import BROKER_ERRORS
from webhook_app.auth import bad_body, json_body, require_admin
from zoho.entities import entity_names, get_entity

bp = Blueprint("bulk_sync", __name__, url_prefix="/api/zoho/bulk-sync")


def _full_flag() -> bool | None:
    """`{"full": true}` in the JSON body (false when absent); None when the body is unfit."""
    body = json_body()
    if body is None or not isinstance(body.get("full", False), bool):
        return None
    return body.get("full", False)


def _enqueue(fn, *args, **kwargs):
    try:
        result = fn.apply_async(args=args, kwargs=kwargs)
        return result.id, None
    except BROKER_ERRORS as e:
        return None, type(e).__name__


@bp.post("/sync-all")
@require_admin
def sync_all():
    full = _full_flag()
    if full is None:
        return bad_body()
    task_id, error = _enqueue(pull_all, full=full)
    if error:
        return jsonify({"status": "error", "error": "broker_unavailable", "message": error}), 503
    return jsonify({"status": "queued", "task_id": task_id, "full": full}), 202


@bp.get("/status")
@require_admin
def status():
    with get_engine().connect() as c:
        runs = c.execute(text(
            """
            SELECT DISTINCT ON (entity_type) id, entity_type, kind, status, started_at, finished_at, fetched,
                   changed, skipped, failed, deleted, api_calls, duration_ms, error_message
              FROM tds_sync_runs ORDER BY entity_type, started_at DESC
            """)).mappings().all()
        cursors = c.execute(text("SELECT entity_type, source_key, last_modified_at, last_full_sync_at "
                                 "FROM tds_sync_cursors ORDER BY entity_type, source_key")).mappings().all()
    latest = {r["entity_type"]: dict(r) for r in runs}
    return jsonify({
        "entities": {name: {"last_run": latest.get(name),
                            "cursors": [dict(c) for c in cursors if c["entity_type"] == name]}
                     for name in entity_names()},
        "running": [dict(r) for r in runs if r["status"] == "running"],
    })


@bp.post("/<entity>")
@require_admin
def sync_entity(entity: str):
    ent = get_entity(entity)
    if ent is None:
        return jsonify({"status": "error", "error": "unknown_entity", "message": f"no such entity {entity!r}"}), 404
    if not ent.sources:
        return jsonify({"status": "error", "error": "invalid", "message": f"{entity} has no API source"}), 422
    full = _full_flag()
    if full is None:
        return bad_body()
    task_id, error = _enqueue(pull, entity, full=full)
    if error:
        return jsonify({"status": "error", "error": "broker_unavailable", "message": error}), 503
    return jsonify({"status": "queued", "task_id": task_id, "entity": entity, "full": full}), 202

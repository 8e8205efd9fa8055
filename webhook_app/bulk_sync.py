"""Bulk-sync levers over HTTP (ADMIN_TOKEN): start pulls, see how the last ones went.

Body options (JSON): `full` (or `incremental: false`), `modified_since` (ISO 8601: read from
then instead of the cursor), `sync_images` (products: also queue a download of new pictures).
The earlier system's `batch_size`, `active_only` and `with_stock_only` are refused with a 400
naming them, never silently ignored: a pull always reads every record of its lists.
"""
from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, jsonify
from sqlalchemy import text

from models.db import get_engine
from tasks.bulk import pull, pull_all, pull_priority, pull_since
from tasks.publish import BROKER_ERRORS
from webhook_app.auth import bad_body, json_body, require_admin
from zoho.entities import entity_names, get_entity

bp = Blueprint("bulk_sync", __name__, url_prefix="/api/zoho/bulk-sync")


def _enqueue(fn, *args, priority: int | None = None, **kwargs):
    try:
        result = fn.apply_async(args=args, kwargs=kwargs, priority=priority)
        return result.id, None
    except BROKER_ERRORS as e:
        return None, type(e).__name__


ALIASES = {"pricelists": "prices", "price-lists": "prices"}  # the seeds' name for price books
REFUSED = ("batch_size", "active_only", "with_stock_only")
KNOWN = {"full", "incremental", "modified_since", "sync_images"}


def _truthy(raw: Any) -> bool:
    return raw is True or str(raw).lower() in ("1", "true", "yes")


def _options(allowed: set[str]) -> tuple[dict[str, Any] | None, Any]:
    """The body's options, or (None, a 400 answer) naming what cannot be honoured."""
    body = json_body()
    if body is None:
        return None, bad_body()
    refused = sorted(k for k in body if k in REFUSED or k not in allowed)
    if refused:
        return None, (jsonify({"status": "error", "error": "unsupported_options", "options": refused,
                               "message": f"not supported here: {', '.join(refused)} (a pull reads every record; "
                                          f"accepted: {', '.join(sorted(allowed))})"}), 400)
    full = _truthy(body.get("full", False))
    if "incremental" in body:
        full = not _truthy(body["incremental"])
    since = None
    if body.get("modified_since") not in (None, ""):
        try:
            since = dt.datetime.fromisoformat(str(body["modified_since"]))  # 3.11+: "Z" included
        except ValueError:
            return None, (jsonify({"status": "error", "error": "invalid", "options": ["modified_since"],
                                   "message": "modified_since must be an ISO 8601 date or time"}), 400)
        if since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        if full:
            return None, (jsonify({"status": "error", "error": "invalid", "options": ["modified_since", "full"],
                                   "message": "modified_since applies to an incremental pull, not a full one"}), 400)
    return {"full": full, "since": since, "sync_images": _truthy(body.get("sync_images", False))}, None


def _iso_row(row: Any) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, dt.datetime) else v) for k, v in dict(row).items()}


@bp.post("/sync-all")
@require_admin
def sync_all():
    opts, refusal = _options({"full", "incremental"})
    if refusal:
        return refusal
    task_id, error = _enqueue(pull_all, full=opts["full"])
    if error:
        return jsonify({"status": "error", "error": "broker_unavailable", "message": error}), 503
    return jsonify({"status": "queued", "task_id": task_id, "full": opts["full"]}), 202


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
    latest = {r["entity_type"]: _iso_row(r) for r in runs}  # ISO 8601 like every other endpoint
    return jsonify({
        "entities": {name: {"last_run": latest.get(name),
                            "cursors": [_iso_row(c) for c in cursors if c["entity_type"] == name]}
                     for name in entity_names()},
        "running": [_iso_row(r) for r in runs if r["status"] == "running"],
    })


@bp.post("/<entity>")
@require_admin
def sync_entity(entity: str):
    entity = ALIASES.get(entity, entity)
    ent = get_entity(entity)
    if ent is None:
        return jsonify({"status": "error", "error": "unknown_entity", "message": f"no such entity {entity!r}"}), 404
    if not ent.sources:
        return jsonify({"status": "error", "error": "invalid", "message": f"{entity} has no API source"}), 422
    opts, refusal = _options(KNOWN)
    if refusal:
        return refusal
    if opts["sync_images"] and entity != "products":
        return jsonify({"status": "error", "error": "unsupported_options", "options": ["sync_images"],
                        "message": "sync_images applies to products only"}), 400
    if opts["since"] is not None:
        task_id, error = _enqueue(pull_since, entity, opts["since"].isoformat(), priority=pull_priority(ent))
    else:
        task_id, error = _enqueue(pull, entity, full=opts["full"], priority=pull_priority(ent))
    if error:
        return jsonify({"status": "error", "error": "broker_unavailable", "message": error}), 503
    answer = {"status": "queued", "task_id": task_id, "entity": entity, "full": opts["full"],
              "modified_since": opts["since"].isoformat() if opts["since"] else None}
    if opts["sync_images"]:
        from tasks.images import sync_products

        answer["images_task_id"], error = _enqueue(sync_products)
        if error:
            return jsonify({"status": "error", "error": "broker_unavailable", "message": error}), 503
    return jsonify(answer), 202

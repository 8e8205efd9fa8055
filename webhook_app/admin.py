"""Admin levers over HTTP: retry failed/dead events, clear old completed ones (ADMIN_TOKEN)."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from tasks.operations import clear_completed, retry_events
from webhook_app.auth import bad_body, json_body, require_admin
from zoho.entities import get_entity

bp = Blueprint("admin", __name__, url_prefix="/api/zoho/admin")


@bp.post("/queue/retry")
@require_admin
def queue_retry():
    """Body: `{"ids": [..]}`, or `{"entity": "products"}`, or `{"all": true}`; optional `"statuses"`."""
    body = json_body()
    if body is None:
        return bad_body()
    ids = body.get("ids")
    entity = body.get("entity")
    statuses = body.get("statuses") or ["failed", "dead"]
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, int) for i in ids)):
        return jsonify({"status": "error", "error": "invalid", "message": "ids must be a list of integers"}), 422
    if entity is not None and get_entity(entity) is None:
        return jsonify({"status": "error", "error": "unknown_entity", "message": f"no such entity {entity!r}"}), 404
    if not set(statuses) <= {"failed", "dead", "pending", "completed"}:
        return jsonify({"status": "error", "error": "invalid", "message": "statuses: failed, dead, pending, completed"}), 422
    if not ids and not entity and body.get("all") is not True:
        return jsonify({"status": "error", "error": "invalid", "message": "give ids, entity, or all: true"}), 422
    result = retry_events(ids=ids, entity=entity, statuses=tuple(statuses), actor="admin-api")
    return jsonify({"status": "ok", **result})


@bp.post("/queue/clear")
@require_admin
def queue_clear():
    """Body: `{"older_than_days": N}` (or `days`; default 30): deletes completed events older than that."""
    body = json_body()
    if body is None:
        return bad_body()
    days = next((v for v in (body.get("older_than_days"), body.get("days")) if v is not None), 30)
    try:
        if isinstance(days, bool) or (isinstance(days, float) and not days.is_integer()):
            raise ValueError
        days = int(days)
        if days < 0:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        return jsonify({"status": "error", "error": "invalid", "message": "older_than_days must be an integer ≥ 0"}), 422
    return jsonify({"status": "ok", **clear_completed(days, actor="admin-api")})


@bp.post("/alerts/<int:alert_id>/ack")
@require_admin
def alert_ack(alert_id: int):
    """Acknowledge an alert. Optional JSON body `{"note": "..."}` (kept in the audit trail); 404 if unknown."""
    from tasks.operations import NotFoundError, acknowledge_alert

    raw = request.get_data(cache=True)
    body = request.get_json(silent=True) if raw.strip() else {}
    if not isinstance(body, dict):
        return jsonify({"status": "error", "error": "invalid", "message": "the body must be a JSON object"}), 400
    note = body.get("note")
    if note is not None and (not isinstance(note, str) or len(note) > 500):
        return jsonify({"status": "error", "error": "invalid", "message": "note must be text of at most 500 characters"}), 422
    try:
        result = acknowledge_alert(alert_id, actor="admin-api", note=note)
    except NotFoundError as e:
        return jsonify({"status": "error", "error": "not_found", "message": str(e)}), 404
    return jsonify({"status": "ok", **result})

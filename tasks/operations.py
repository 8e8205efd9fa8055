"""Operator levers shared by the CLI and the admin endpoints; every one is audited.

Each lever only moves rows of the queue mirror back to `pending` and publishes them;
the pipeline's claim guarantees a lever can never cause a double apply.
"""
from __future__ import annotations

import json

from sqlalchemy import text

from models.db import session_scope
from tasks.publish import publish_many


def _audit(s, action: str, actor: str, details: dict, event_id: int | None = None) -> None:
    s.execute(
        text("INSERT INTO tds_audit_trail (action, actor, event_id, details) VALUES (:a, :actor, :e, CAST(:d AS jsonb))"),
        {"a": action, "actor": actor, "e": event_id, "d": json.dumps(details, default=str)},
    )


def _reset_and_publish(s, where: str, params: dict) -> list[tuple[str, int]]:
    rows = s.execute(
        text(
            f"""
            UPDATE tds_sync_queue SET status = 'pending', retry_count = 0, next_attempt_at = NULL,
                   locked_until = NULL, error_message = NULL, completed_at = NULL, result = NULL,
                   enqueued_at = now(), updated_at = now()
             WHERE id IN (SELECT id FROM tds_sync_queue WHERE {where} FOR UPDATE SKIP LOCKED)
         RETURNING entity_type, id
            """
        ),
        params,
    ).all()
    s.execute(
        text("UPDATE tds_dead_letter_queue SET resolved_at = now(), resolution_notes = 'retried' "
             "WHERE original_id = ANY(:ids) AND resolved_at IS NULL"),
        {"ids": [r.id for r in rows]},
    )
    return [(r.entity_type, r.id) for r in rows]


def replay_event(event_id: int, actor: str = "cli") -> dict:
    """Run one event again whatever its state (a completed one re-applies idempotently)."""
    with session_scope() as s:
        found = _reset_and_publish(s, "id = :id AND status <> 'processing'", {"id": event_id})
        _audit(s, "replay", actor, {"found": bool(found)}, event_id)
    published = publish_many(found)
    return {"event_id": event_id, "replayed": bool(found), "published": published}


def retry_events(*, ids: list[int] | None = None, entity: str | None = None,
                 statuses: tuple[str, ...] = ("failed", "dead"), actor: str = "admin") -> dict:
    """Send failed/dead events back to pending: by ids, by entity, or all of them."""
    clauses = ["status = ANY(:statuses)"]
    params: dict = {"statuses": list(statuses)}
    if ids:
        clauses.append("id = ANY(:ids)")
        params["ids"] = [int(i) for i in ids]
    if entity:
        clauses.append("entity_type = :entity")
        params["entity"] = entity
    with session_scope() as s:
        found = _reset_and_publish(s, " AND ".join(clauses), params)
        _audit(s, "retry", actor, {"ids": ids, "entity": entity, "statuses": list(statuses), "count": len(found)})
    return {"retried": len(found), "published": publish_many(found), "event_ids": [i for _, i in found]}


def resolve_dead_letters(ids: list[int], notes: str, actor: str = "cli") -> dict:
    """Close dead letters a person has dealt with (the event stays `dead`)."""
    with session_scope() as s:
        n = s.execute(
            text("UPDATE tds_dead_letter_queue SET resolved_at = now(), resolution_notes = :n "
                 "WHERE id = ANY(:ids) AND resolved_at IS NULL"),
            {"ids": [int(i) for i in ids], "n": notes},
        ).rowcount
        if n:  # resolving nothing (unknown or already resolved ids) changes nothing, so audits nothing
            _audit(s, "dlq.resolve", actor, {"ids": ids, "notes": notes, "count": n})
    return {"resolved": n}


def retry_dead_letters(ids: list[int] | None, actor: str = "cli") -> dict:
    """Retry the events behind unresolved dead letters (all of them when `ids` is empty)."""
    with session_scope() as s:
        q = "SELECT original_id FROM tds_dead_letter_queue WHERE resolved_at IS NULL"
        params: dict = {}
        if ids:
            q += " AND id = ANY(:ids)"
            params["ids"] = [int(i) for i in ids]
        originals = list(s.execute(text(q), params).scalars())
    if not originals:
        return {"retried": 0, "published": 0, "event_ids": []}
    return retry_events(ids=originals, statuses=("dead", "failed"), actor=actor)


def clear_completed(older_than_days: int, actor: str = "admin") -> dict:
    """Delete completed events older than N days."""
    with session_scope() as s:
        n = s.execute(
            text("DELETE FROM tds_sync_queue WHERE status = 'completed' "
                 "AND completed_at < now() - make_interval(days => :d)"),
            {"d": int(older_than_days)},
        ).rowcount
        _audit(s, "clear", actor, {"older_than_days": older_than_days, "count": n})
    return {"cleared": n}


# -- what operators ask first (the dashboard's JSON and the CLI read the same functions) ----------

def error_patterns(hours: int = 24, limit: int = 50) -> list[dict]:
    """Failures grouped by entity and error (the seeds' query): how often, how recently, in which state."""
    with session_scope() as s:
        rows = s.execute(text(
            """
            SELECT entity_type, left(coalesce(error_message, '(no message)'), 200) AS error, count(*) AS n,
                   count(*) FILTER (WHERE status = 'dead') AS dead, min(updated_at) AS first_seen,
                   max(updated_at) AS last_seen
              FROM tds_sync_queue
             WHERE status IN ('failed', 'dead') AND updated_at >= now() - make_interval(hours => :h)
             GROUP BY 1, 2 ORDER BY n DESC, last_seen DESC LIMIT :limit
            """), {"h": int(hours), "limit": int(limit)}).mappings().all()
    return [{**r, "first_seen": r["first_seen"].isoformat(), "last_seen": r["last_seen"].isoformat()} for r in rows]


def recent_pulls(limit: int = 50, entity: str | None = None) -> list[dict]:
    """The latest runs of `tds_sync_runs`: entity, kind, status, calls, fetched/changed/failed, duration."""
    with session_scope() as s:
        rows = s.execute(text(
            "SELECT id, entity_type, kind, status, api_calls, fetched, changed, skipped, failed, deleted, started_at, "
            "finished_at, coalesce(duration_ms, (extract(epoch FROM now() - started_at) * 1000)::int) AS duration_ms, "
            "error_message FROM tds_sync_runs WHERE (CAST(:e AS text) IS NULL OR entity_type = :e) "
            "ORDER BY started_at DESC, id DESC LIMIT :n"), {"n": int(limit), "e": entity}).mappings().all()
    return [{**r, "started_at": r["started_at"].isoformat(),
             "finished_at": r["finished_at"].isoformat() if r["finished_at"] else None} for r in rows]


def list_alerts(include_cleared: bool = False, limit: int = 100) -> list[dict]:
    """Open alerts (and recently cleared ones on request), newest first, with who acknowledged them."""
    with session_scope() as s:
        rows = s.execute(text(
            "SELECT id, check_name, severity, message, value, raised_at, cleared_at, acknowledged_at, acknowledged_by "
            "FROM tds_alerts WHERE (:all OR cleared_at IS NULL) ORDER BY raised_at DESC LIMIT :n"),
            {"all": include_cleared, "n": int(limit)}).mappings().all()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()} for r in rows]


class NotFoundError(LookupError):
    """The lever names a row that does not exist (the CLI exits non-zero, the endpoint answers 404)."""


def acknowledge_alert(alert_id: int, actor: str = "admin", note: str | None = None) -> dict:
    """Mark an alert as seen by a person; acknowledging it again is a no-op. Raises `NotFoundError`."""
    with session_scope() as s:
        row = s.execute(text(
            "UPDATE tds_alerts SET acknowledged_at = coalesce(acknowledged_at, now()), "
            "acknowledged_by = coalesce(acknowledged_by, :actor) WHERE id = :i "
            "RETURNING id, check_name, acknowledged_at, acknowledged_by"),
            {"i": int(alert_id), "actor": actor}).mappings().first()
        if row is None:
            raise NotFoundError(f"no alert with id {alert_id}")
        _audit(s, "alert.ack", actor, {"alert_id": alert_id, "check": row["check_name"], "note": note})
    return {"id": row["id"], "check_name": row["check_name"], "acknowledged_at": row["acknowledged_at"].isoformat(),
            "acknowledged_by": row["acknowledged_by"]}

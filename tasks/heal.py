"""Healing jobs on beat: nothing accepted is lost, nothing stays stuck, nothing runs twice.

Every job selects with `FOR UPDATE SKIP LOCKED`, so healers run safely beside workers
and beside each other: a row a worker is applying is locked and simply skipped, and a
re-published event can only be claimed by one worker (see `tasks.pipeline`).
"""
from __future__ import annotations

import logging

from sqlalchemy import text

from models.db import session_scope
from models.settings import get_settings
from tasks import app
from tasks.pipeline import dead_letter
from tasks.publish import BROKER_ERRORS, publish_many

log = logging.getLogger(__name__)

BATCH = 5000
ORPHAN_HARD_AFTER_SECONDS = 600
"""A pending row this old is re-published even if its queue still holds messages."""

RELEASE_GRACE_SECONDS = 60
"""A `processing` row nobody holds a lock on, claimed this long ago, belongs to a dead worker."""


def _queue_depths() -> dict[str, int]:
    """Messages waiting per entity queue (empty dict when the broker is unreachable)."""
    from zoho.entities import registry

    try:
        with app.connection_for_write() as conn:
            client = conn.default_channel.client
            pipe = client.pipeline()
            names = list(registry())
            for name in names:
                pipe.llen(f"sync.{name}")
            return dict(zip(names, pipe.execute()))
    except BROKER_ERRORS:
        return {}


def _audit(s, action: str, count: int, details: dict | None = None) -> None:
    if count:
        s.execute(
            text("INSERT INTO tds_audit_trail (action, actor, details) VALUES (:a, 'healer', CAST(:d AS jsonb))"),
            {"a": action, "d": __import__("json").dumps({"count": count, **(details or {})})},
        )


@app.task(name="heal.enqueue_orphans", ignore_result=True, soft_time_limit=120, time_limit=150)
def enqueue_orphans() -> dict:
    """Re-publish pending events whose message was lost (broker restart, failed publish).

    A pending row is an orphan once it has waited `SYNC_ORPHAN_AFTER_SECONDS` and its
    entity queue is empty (so its message cannot be waiting there), or once it has waited
    10 minutes regardless. Re-publishing a row whose message does still exist is harmless:
    only one claim can win.
    """
    settings = get_settings()
    depths = _queue_depths()
    empty = [name for name, depth in depths.items() if depth == 0]
    with session_scope() as s:
        rows = s.execute(
            text(
                """
                SELECT id, entity_type FROM tds_sync_queue
                 WHERE status = 'pending'
                   AND COALESCE(enqueued_at, created_at) < now() - make_interval(secs => :after)
                   AND (entity_type = ANY(:empty)
                        OR COALESCE(enqueued_at, created_at) < now() - make_interval(secs => :hard))
                 ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED
                """
            ),
            {"after": settings.orphan_after_seconds, "empty": empty, "hard": ORPHAN_HARD_AFTER_SECONDS, "batch": BATCH},
        ).all()
        if not rows:
            return {"published": 0}
        sent = publish_many((r.entity_type, r.id) for r in rows)
        ids = [r.id for r in rows[:sent]]
        s.execute(text("UPDATE tds_sync_queue SET enqueued_at = now() WHERE id = ANY(:ids)"), {"ids": ids})
        _audit(s, "heal.enqueue_orphans", sent)
    log.info("orphans re-published", extra={"count": sent})
    return {"published": sent, "found": len(rows)}


@app.task(name="heal.release_stuck", ignore_result=True, soft_time_limit=120, time_limit=150)
def release_stuck() -> dict:
    """Return `processing` rows whose worker died (or whose lock expired) to the queue.

    The lost attempt counts: a record that kills its worker is dead-lettered after
    `max_retries` instead of looping forever.
    """
    settings = get_settings()
    released, dead = [], 0
    with session_scope() as s:
        rows = s.execute(
            text(
                """
                SELECT id, entity_type, retry_count, max_retries FROM tds_sync_queue
                 WHERE status = 'processing'
                   AND (locked_until < now() OR updated_at < now() - make_interval(secs => :grace))
                 ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED
                """
            ),
            {"grace": RELEASE_GRACE_SECONDS, "batch": BATCH},
        ).all()
        for r in rows:
            if r.retry_count + 1 > r.max_retries:
                dead_letter(s, r.id, "worker lost the event too many times (killed or timed out)",
                            "WorkerLost", actor="healer")
                dead += 1
            else:
                released.append((r.entity_type, r.id))
        if released:
            s.execute(
                text(
                    "UPDATE tds_sync_queue SET status = 'failed', retry_count = retry_count + 1, "
                    "error_message = 'released: worker lost while processing', locked_until = NULL, "
                    "next_attempt_at = now(), enqueued_at = now(), updated_at = now() WHERE id = ANY(:ids)"
                ),
                {"ids": [i for _, i in released]},
            )
        _audit(s, "heal.release_stuck", len(rows), {"dead": dead, "lock_seconds": settings.stuck_lock_seconds})
    sent = publish_many(released)
    return {"released": len(released), "dead": dead, "published": sent}


@app.task(name="heal.requeue_failed", ignore_result=True, soft_time_limit=120, time_limit=150)
def requeue_failed() -> dict:
    """Publish failed events whose retry is due (parked long waits, retries lost with Redis)."""
    with session_scope() as s:
        rows = s.execute(
            text(
                """
                SELECT id, entity_type FROM tds_sync_queue
                 WHERE status = 'failed' AND retry_count <= max_retries
                   AND COALESCE(next_attempt_at, updated_at) <= now() - interval '5 seconds'
                   AND COALESCE(enqueued_at, updated_at) < now() - make_interval(secs => :after)
                 ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED
                """
            ),
            {"after": get_settings().orphan_after_seconds, "batch": BATCH},
        ).all()
        if not rows:
            return {"published": 0}
        sent = publish_many((r.entity_type, r.id) for r in rows)
        s.execute(
            text("UPDATE tds_sync_queue SET enqueued_at = now() WHERE id = ANY(:ids)"),
            {"ids": [r.id for r in rows[:sent]]},
        )
        _audit(s, "heal.requeue_failed", sent)
    return {"published": sent}


@app.task(name="heal.dead_letter", ignore_result=True, soft_time_limit=120, time_limit=150)
def dead_letter_exhausted() -> dict:
    """Dead-letter failed events that have used up their retries but were never moved."""
    with session_scope() as s:
        rows = s.execute(
            text(
                "SELECT id, error_message FROM tds_sync_queue WHERE status = 'failed' "
                "AND retry_count > max_retries ORDER BY id LIMIT :batch FOR UPDATE SKIP LOCKED"
            ),
            {"batch": BATCH},
        ).all()
        for r in rows:
            dead_letter(s, r.id, r.error_message or "retries exhausted", "RetriesExhausted", actor="healer")
    return {"dead": len(rows)}


@app.task(name="heal.purge_completed", ignore_result=True, soft_time_limit=600, time_limit=660)
def purge_completed(days: int = 30) -> dict:
    """Delete completed events older than `days` (in batches, so the table is never locked long)."""
    total = 0
    while True:
        with session_scope() as s:
            n = s.execute(
                text(
                    "DELETE FROM tds_sync_queue WHERE id IN (SELECT id FROM tds_sync_queue "
                    "WHERE status = 'completed' AND completed_at < now() - make_interval(days => :days) "
                    "ORDER BY id LIMIT 10000 FOR UPDATE SKIP LOCKED)"
                ),
                {"days": int(days)},
            ).rowcount
            total += n
            if n < 10000:
                _audit(s, "heal.purge_completed", total, {"days": days})
                break
    return {"purged": total}


@app.task(name="heal.check_workers", ignore_result=True, soft_time_limit=30, time_limit=45)
def check_workers() -> dict:
    """Ask every worker to answer a ping; raise (or clear) the `workers` alert."""
    try:
        replies = app.control.ping(timeout=2.0) or []
    except BROKER_ERRORS:
        replies = []
    answering = sorted(name for reply in replies for name in reply)
    with session_scope() as s:
        if answering:
            s.execute(text("UPDATE tds_alerts SET cleared_at = now() WHERE check_name = 'workers' "
                           "AND cleared_at IS NULL"))
        else:
            s.execute(
                text(
                    "INSERT INTO tds_alerts (check_name, severity, message, value) "
                    "VALUES ('workers', 'critical', 'no Celery worker answers a ping', '0') "
                    "ON CONFLICT (check_name) WHERE cleared_at IS NULL DO NOTHING"
                )
            )
    return {"workers": answering}

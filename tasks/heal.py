"""Healing jobs on beat: nothing accepted is lost, nothing stays stuck, nothing runs twice.

Every job selects with `FOR UPDATE SKIP LOCKED`, so healers run safely beside workers
and beside each other: a row a worker is applying is locked and simply skipped, and a
re-published event can only be claimed by one worker (see `tasks.pipeline`).
"""
from __future__ import annotations

import datetime as dt
import logging
from collections import Counter

from models import queue as sql
from models.db import session_scope
from models.settings import get_settings
from tasks import app
from tasks.pipeline import dead_letter, max_batch
from tasks.publish import BROKER_ERRORS, publish_many

log = logging.getLogger(__name__)

BATCH = 5000


def _audit(s, action: str, count: int, details: dict | None = None) -> None:
    if count:
        s.execute(sql.AUDIT, {"action": action, "actor": "healer", "details": {"count": count, **(details or {})}})


def _seconds(n: float) -> dt.timedelta:
    return dt.timedelta(seconds=n)


def wake_up_calls(rows, per_message: int) -> list:
    """The orphans to publish a message for: one per `per_message` first-attempt orphans of an entity.

    A `sync.<entity>.process` task applies its own event and up to `per_message` − 1 other due
    first-attempt events of its entity, oldest first: one message sweeps that many orphans
    (rows come oldest first). An orphan that failed before is never swept, so it gets its own.
    """
    seen: Counter = Counter()
    wake = []
    for r in rows:
        if r.retry_count:
            wake.append(r)
            continue
        if seen[r.entity_type] % per_message == 0:
            wake.append(r)
        seen[r.entity_type] += 1
    return wake


@app.task(name="heal.enqueue_orphans", ignore_result=True, soft_time_limit=120, time_limit=150)
def enqueue_orphans() -> dict:
    """Re-publish pending events nobody has woken for `SYNC_ORPHAN_AFTER_SECONDS` (lost messages).

    Whatever the broker and however busy the queue: the mirror alone decides, no queue is
    inspected. A message that does still exist costs one indexed read when it arrives (its
    event is completed by then, or taken by whoever holds it: one take wins). `enqueued_at`
    records the wake-up, so a row is woken at most once per window; with the default 30 s
    and beat every 15 s, a lost message's event is applied within about a minute. If the
    broker is down the rows wait for the next window.
    """
    settings = get_settings()
    with session_scope() as s:
        rows = s.execute(sql.ORPHANS, {"after": _seconds(settings.orphan_after_seconds), "batch": BATCH}).all()
        if not rows:
            return {"published": 0}
        # Marked and committed before publishing: a worker must never find a woken row still
        # locked by this transaction (it would skip it as taken by someone else).
        s.execute(sql.MARK_ENQUEUED, {"ids": [r.id for r in rows]})
        _audit(s, "heal.enqueue_orphans", len(rows))
    wake = wake_up_calls(rows, max_batch())
    sent = publish_many((r.entity_type, r.id) for r in wake)
    log.info("orphans re-published", extra={"count": sent, "orphans": len(rows)})
    return {"published": sent, "found": len(rows)}


@app.task(name="heal.release_stuck", ignore_result=True, soft_time_limit=120, time_limit=150)
def release_stuck() -> dict:
    """Return `processing` rows whose worker died (or whose lock expired) to the queue.

    The lost attempt counts: a record that kills its worker is dead-lettered after
    `max_retries` instead of looping forever. Group attempts left by dead workers whose
    events are all closed by now are swept too (`tds_group_attempts`).
    """
    settings = get_settings()
    released, dead = [], 0
    with session_scope() as s:
        # a `processing` row nobody holds a lock on, claimed `SYNC_RELEASE_GRACE_SECONDS` ago, belongs to a dead worker
        grace = _seconds(settings.release_grace_seconds)
        rows = s.execute(sql.STUCK, {"grace": grace, "batch": BATCH}).all()
        for r in rows:
            if r.retry_count + 1 > r.max_retries:
                dead_letter(s, r.id, "worker lost the event too many times (killed or timed out)",
                            "WorkerLost", actor="healer")
                dead += 1
            else:
                released.append((r.entity_type, r.id))
        if released:
            s.execute(sql.RELEASE, {"ids": [i for _, i in released]})
        pruned = s.execute(sql.PRUNE_ATTEMPTS, {"after": grace}).rowcount
        _audit(s, "heal.release_stuck", len(rows), {"dead": dead, "lock_seconds": settings.stuck_lock_seconds})
    sent = publish_many(released)
    return {"released": len(released), "dead": dead, "published": sent, "attempts_pruned": pruned}


@app.task(name="heal.requeue_failed", ignore_result=True, soft_time_limit=120, time_limit=150)
def requeue_failed() -> dict:
    """Publish failed events whose retry is due (parked long waits, retries lost with the broker)."""
    with session_scope() as s:
        rows = s.execute(sql.DUE_RETRIES, {"after": _seconds(get_settings().orphan_after_seconds),
                                           "batch": BATCH}).all()
        if not rows:
            return {"published": 0}
        s.execute(sql.MARK_ENQUEUED, {"ids": [r.id for r in rows]})  # committed before the messages leave
        _audit(s, "heal.requeue_failed", len(rows))
    return {"published": publish_many((r.entity_type, r.id) for r in rows)}


@app.task(name="heal.dead_letter", ignore_result=True, soft_time_limit=120, time_limit=150)
def dead_letter_exhausted() -> dict:
    """Dead-letter failed events that have used up their retries but were never moved."""
    with session_scope() as s:
        rows = s.execute(sql.EXHAUSTED, {"batch": BATCH}).all()
        for r in rows:
            dead_letter(s, r.id, r.error_message or "retries exhausted", "RetriesExhausted", actor="healer")
    return {"dead": len(rows)}


@app.task(name="heal.purge_completed", ignore_result=True, soft_time_limit=600, time_limit=660)
def purge_completed(days: int = 30) -> dict:
    """Delete completed events older than `days` (in batches, so the table is never locked long)."""
    total = 0
    while True:
        with session_scope() as s:
            n = s.execute(sql.PURGE_COMPLETED, {"age": dt.timedelta(days=int(days)), "batch": 10_000}).rowcount
            total += n
            if n < 10_000:
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
            s.execute(sql.CLEAR_ALERT, {"check": "workers"})
        else:
            s.execute(sql.RAISE_ALERT, {"check": "workers", "severity": "critical",
                                        "message": "no Celery worker answers a ping", "value": "0"})
    return {"workers": answering}

"""The Postgres mirror of the queue: what must still happen, what happened, and why.

Redis only carries wake-up calls; these tables are the source of truth for every
accepted event, its attempts, its dead letter and the operator's audit trail.
"""
import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    Interval,
    Numeric,
    String,
    UniqueConstraint,
    all_,
    and_,
    any_,
    bindparam,
    case,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, created_ts, intpk

EVENT_STATUSES = ("pending", "processing", "completed", "failed", "dead")
OPERATIONS = ("upsert", "delete")


class SyncEvent(Base):
    """One accepted change to one Zoho record (from a webhook, a pull, a replay)."""

    __tablename__ = "tds_sync_queue"
    __table_args__ = (
        CheckConstraint(f"status IN {EVENT_STATUSES}", name="ck_tds_sync_queue_status"),
        CheckConstraint(f"operation IN {OPERATIONS}", name="ck_tds_sync_queue_operation"),
        # Every completion updates each index here (status changes, so never a HOT update):
        # keep only indexes some query needs (migration 0004 dropped status, entity_type and
        # completed_at, which the ones below cover).
        Index("ix_tds_sync_queue_created_at", "created_at"),
        Index("ix_tds_sync_queue_dedupe_key", "dedupe_key", unique=True),
        Index("ix_tds_sync_queue_entity_record", "entity_type", "entity_id"),
        # The healer's and dashboard's hot paths only ever look at unfinished rows.
        Index(
            "ix_tds_sync_queue_open",
            "status",
            "updated_at",
            postgresql_where=text("status IN ('pending','processing','failed')"),
        ),
        # Health and dashboard: counts per entity x status and the oldest waiting event per
        # entity, read from the small not-completed part of the table only.
        Index(
            "ix_tds_sync_queue_unfinished",
            "entity_type",
            "status",
            "created_at",
            postgresql_where=text("status IN ('pending','processing','failed','dead')"),
        ),
        # Last sync, throughput and receipt->completion latency per entity: a range of this
        # index answers them without touching the heap (created_at rides along).
        Index(
            "ix_tds_sync_queue_entity_completed",
            "entity_type",
            "completed_at",
            postgresql_include=["created_at"],
            postgresql_where=text("status = 'completed'"),
        ),
    )

    id: Mapped[intpk]
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16), server_default="upsert")
    status: Mapped[str] = mapped_column(String(16), server_default="pending")
    source: Mapped[str] = mapped_column(String(16), server_default="webhook")
    retry_count: Mapped[int] = mapped_column(Integer, server_default="0")
    max_retries: Mapped[int] = mapped_column(Integer, server_default="5")
    payload: Mapped[dict[str, Any]]
    payload_hash: Mapped[str] = mapped_column(String(64))
    dedupe_key: Mapped[str] = mapped_column(String(64))
    zoho_last_modified_at: Mapped[dt.datetime | None]
    error_message: Mapped[str | None]
    result: Mapped[str | None] = mapped_column(String(32))
    locked_until: Mapped[dt.datetime | None]
    next_attempt_at: Mapped[dt.datetime | None]
    enqueued_at: Mapped[dt.datetime | None]
    celery_task_id: Mapped[str | None] = mapped_column(String(64))
    sync_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[created_ts]
    updated_at: Mapped[created_ts]
    completed_at: Mapped[dt.datetime | None]


class GroupAttempt(Base):
    """A group of events a worker has begun to apply: the evidence a worker's death leaves behind.

    Written and committed (on a connection of its own) while the applying transaction already
    holds the events' row locks, deleted by that transaction as it commits, or right after it
    rolls back on a failure the pipeline handled. A row that outlives its transaction therefore
    names events whose worker died applying them — a pool child or a whole worker process, on
    any broker and any pool: each of them then runs alone (the poison rule, docs/pipeline.md).
    Normally empty but for the groups in flight.
    """

    __tablename__ = "tds_group_attempts"

    id: Mapped[intpk]
    celery_task_id: Mapped[str] = mapped_column(String(64))
    event_ids: Mapped[list[int]] = mapped_column(ARRAY(BigInteger))
    started_at: Mapped[created_ts]


class DeadLetter(Base):
    """An event that cannot succeed without a person: the error and payload kept for them."""

    __tablename__ = "tds_dead_letter_queue"
    __table_args__ = (
        Index("ix_tds_dlq_original_id", "original_id"),
        Index("ix_tds_dlq_unresolved", "failed_at", postgresql_where=text("resolved_at IS NULL")),
        Index("ix_tds_dlq_failed_at", "failed_at"),
    )

    id: Mapped[intpk]
    original_id: Mapped[int] = mapped_column(BigInteger)
    entity_type: Mapped[str] = mapped_column(String(32))
    entity_id: Mapped[str] = mapped_column(String(64))
    operation: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    error_message: Mapped[str | None]
    error_class: Mapped[str | None] = mapped_column(String(64))
    retry_count: Mapped[int] = mapped_column(Integer, server_default="0")
    failed_at: Mapped[created_ts]
    resolution_notes: Mapped[str | None]
    resolved_at: Mapped[dt.datetime | None]


class SyncRun(Base):
    """One bulk pull / reconciliation run and what it cost."""

    __tablename__ = "tds_sync_runs"
    __table_args__ = (Index("ix_tds_sync_runs_entity_started", "entity_type", "started_at"),)

    id: Mapped[intpk]
    entity_type: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16), server_default="incremental")
    status: Mapped[str] = mapped_column(String(16), server_default="running")
    started_at: Mapped[created_ts]
    finished_at: Mapped[dt.datetime | None]
    fetched: Mapped[int] = mapped_column(Integer, server_default="0")
    changed: Mapped[int] = mapped_column(Integer, server_default="0")
    skipped: Mapped[int] = mapped_column(Integer, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, server_default="0")
    deleted: Mapped[int] = mapped_column(Integer, server_default="0")
    api_calls: Mapped[int] = mapped_column(Integer, server_default="0")
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    cursor_from: Mapped[dt.datetime | None]
    cursor_to: Mapped[dt.datetime | None]
    error_message: Mapped[str | None]
    details: Mapped[dict[str, Any] | None]
    page_state: Mapped[dict[str, Any] | None]  # a running pull's position between its page tasks


class SyncRunSeen(Base):
    """A Zoho id a full pull saw, kept page by page so its deletion sweep can span page tasks."""

    __tablename__ = "tds_sync_run_seen"

    run_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("tds_sync_runs.id", ondelete="CASCADE"),
                                        primary_key=True)
    entity_type: Mapped[str] = mapped_column(String(32), primary_key=True)
    zoho_id: Mapped[str] = mapped_column(primary_key=True)


class ReconcileResult(Base):
    """Zoho vs ERP for one entity after a reconciliation: counts, differences, match percentage."""

    __tablename__ = "tds_reconcile_results"
    __table_args__ = (Index("ix_tds_reconcile_results_entity_at", "entity_type", "reconciled_at"),)

    id: Mapped[intpk]
    entity_type: Mapped[str] = mapped_column(String(32))
    run_id: Mapped[int | None] = mapped_column(BigInteger)
    zoho_count: Mapped[int] = mapped_column(Integer, server_default="0")
    erp_count: Mapped[int] = mapped_column(Integer, server_default="0")
    missing: Mapped[int] = mapped_column(Integer, server_default="0")
    stale: Mapped[int] = mapped_column(Integer, server_default="0")
    extra: Mapped[int] = mapped_column(Integer, server_default="0")
    match_pct: Mapped[Decimal | None] = mapped_column(Numeric(6, 2))
    details: Mapped[dict[str, Any] | None]
    reconciled_at: Mapped[created_ts]


class SyncCursor(Base):
    """How far each entity's incremental pull has durably got (Zoho `last_modified_time`)."""

    __tablename__ = "tds_sync_cursors"
    __table_args__ = (UniqueConstraint("entity_type", "source_key", name="uq_tds_sync_cursors_entity_source"),)

    id: Mapped[intpk]
    entity_type: Mapped[str] = mapped_column(String(32))
    source_key: Mapped[str] = mapped_column(String(160), server_default="")
    last_modified_at: Mapped[dt.datetime | None]
    last_full_sync_at: Mapped[dt.datetime | None]
    last_run_id: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[created_ts]


class AuditEntry(Base):
    """Who or what changed what: applied events, operator levers, healer actions."""

    __tablename__ = "tds_audit_trail"
    __table_args__ = (
        Index("ix_tds_audit_created_at", "created_at"),
        Index("ix_tds_audit_entity", "entity_type", "entity_id"),
    )

    id: Mapped[intpk]
    action: Mapped[str] = mapped_column(String(48))
    actor: Mapped[str] = mapped_column(String(64), server_default="system")
    entity_type: Mapped[str | None] = mapped_column(String(32))
    entity_id: Mapped[str | None] = mapped_column(String(64))
    event_id: Mapped[int | None] = mapped_column(BigInteger)
    details: Mapped[dict[str, Any] | None]
    created_at: Mapped[created_ts]


class Alert(Base):
    """A raised health alert; cleared (not deleted) when the condition goes away."""

    __tablename__ = "tds_alerts"
    __table_args__ = (
        Index("ix_tds_alerts_open", "check_name", unique=True, postgresql_where=text("cleared_at IS NULL")),
    )

    id: Mapped[intpk]
    check_name: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str]
    value: Mapped[str | None]
    raised_at: Mapped[created_ts]
    cleared_at: Mapped[dt.datetime | None]
    notified_at: Mapped[dt.datetime | None]
    acknowledged_at: Mapped[dt.datetime | None]
    acknowledged_by: Mapped[str | None]


class Metric(Base):
    """A point-in-time measurement written by `monitor.snapshot`."""

    __tablename__ = "tds_metrics"
    __table_args__ = (Index("ix_tds_metrics_name_time", "name", "recorded_at"),)

    id: Mapped[intpk]
    name: Mapped[str] = mapped_column(String(64))
    entity_type: Mapped[str | None] = mapped_column(String(32))
    value: Mapped[float]
    recorded_at: Mapped[created_ts]


class ZohoToken(Base):
    """The latest OAuth access token per client (the live copy is cached in Redis)."""

    __tablename__ = "zoho_tokens"

    id: Mapped[intpk]
    client_key: Mapped[str] = mapped_column(String(64), unique=True)
    access_token: Mapped[str]
    api_domain: Mapped[str | None]
    expires_at: Mapped[dt.datetime]
    refreshed_at: Mapped[created_ts]
    refresh_count: Mapped[int] = mapped_column(Integer, server_default="0")


# -- the statements every worker and healer runs on the mirror ------------------------------------------
#
# Built once, from the table objects, so a renamed column fails at import (or in the one test
# that compiles them), not at run time. Each is a plain Core statement with named bind
# parameters; the callers in `tasks/` only execute them.

_q = SyncEvent.__table__
_attempts = GroupAttempt.__table__
_dlq = DeadLetter.__table__
_audit = AuditEntry.__table__
_alerts = Alert.__table__

OPEN = ("pending", "failed")
"""The statuses a worker may take an event from."""

_IDS = bindparam("ids", type_=ARRAY(BigInteger))
_DUE = or_(_q.c.next_attempt_at.is_(None), _q.c.next_attempt_at <= func.now())
_EVENT_COLUMNS = (_q.c.id, _q.c.entity_type, _q.c.entity_id, _q.c.operation, _q.c.payload, _q.c.retry_count,
                  _q.c.max_retries, _q.c.status)

# The transaction that applies events need not wait for the WAL flush on commit
# (docs/pipeline.md, "Asynchronous commit"): SET LOCAL, evaluated with the first row locked.
_ASYNC_COMMIT = func.set_config("synchronous_commit", "off", True).label("async_commit")

_IN_A_LOST_GROUP = exists().where(_q.c.id == any_(_attempts.c.event_ids))
"""The event is named by a group attempt: evaluated on a row this transaction has just locked
(SKIP LOCKED), the attempt's own transaction is gone — its worker died applying it."""

STILL_OPEN = select(_q.c.id).where(_q.c.id == any_(_IDS), _q.c.entity_type == bindparam("entity"),
                                   _q.c.status.in_(OPEN), _DUE)
"""Which of a task's events may still be taken: one read, outside any transaction."""

TAKE_OWN = (
    select(*_EVENT_COLUMNS, _ASYNC_COMMIT, _IN_A_LOST_GROUP.label("lost"))
    .where(_q.c.id == any_(_IDS), _q.c.entity_type == bindparam("entity"), _q.c.status.in_(OPEN), _DUE)
    .order_by(_q.c.id)
    .with_for_update(skip_locked=True)
)
"""A task's own events, row-locked. A row another transaction holds is being applied (or
re-published) by it right now: skipped, never waited for."""

TAKE_OTHERS = (
    select(*_EVENT_COLUMNS)
    .where(_q.c.entity_type == bindparam("entity"), _q.c.status == "pending", _q.c.retry_count == 0, _DUE,
           _q.c.id != all_(bindparam("own", type_=ARRAY(BigInteger))), ~_IN_A_LOST_GROUP)
    .order_by(_q.c.created_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
"""Up to `limit` other due first-attempt events of the entity, oldest first, that nobody holds:
applied in the same transaction (group commit). Events that failed before, or whose worker died
applying them, are never taken here."""

BEGIN_ATTEMPT = (
    insert(_attempts).values(celery_task_id=bindparam("task_id"), event_ids=_IDS).returning(_attempts.c.id)
)
"""Record a group about to be applied (run on its own autocommit connection: committed at once)."""

END_ATTEMPT = delete(_attempts).where(_attempts.c.id == bindparam("attempt_id"))
"""Forget a group attempt: in the applying transaction (gone with its commit), or after its handled failure."""

_ONE = bindparam("event_id", type_=BigInteger)
FORGET_LOST = (
    update(_attempts)
    .where(_ONE == any_(_attempts.c.event_ids))
    .values(event_ids=func.array_remove(_attempts.c.event_ids, _ONE))
)
"""Strike an event out of lost attempts once its claim is committed (the claim carries the rule on)."""

DROP_EMPTY_ATTEMPTS = delete(_attempts).where(func.cardinality(_attempts.c.event_ids) == 0)

PRUNE_ATTEMPTS = delete(_attempts).where(
    _attempts.c.started_at < func.now() - bindparam("after", type_=Interval),
    ~exists().where(_q.c.id == any_(_attempts.c.event_ids), _q.c.status.in_(OPEN)),
)
"""Lost attempts none of whose events is open any more (the healer's sweep; normally there are none)."""

CLAIM = (
    update(_q)
    .where(_q.c.id == any_(_IDS))
    .values(status="processing", celery_task_id=bindparam("task_id"),
            locked_until=func.now() + bindparam("lock", type_=Interval), updated_at=func.now())
)
"""The committed claim of an event that runs alone (its rows are locked by the caller)."""

LOCK_CLAIMED = (
    select(_q.c.id)
    .where(_q.c.id == any_(_IDS), _q.c.status == "processing", _q.c.celery_task_id == bindparam("task_id"))
    .order_by(_q.c.id)
    .with_for_update()
)
"""Re-lock claimed events that are still this task's (the healer may have taken one over)."""

LOCK_FOR_FAILURE = (
    select(_q.c.id, _q.c.retry_count, _q.c.max_retries)
    .where(_q.c.id == any_(_IDS),
           or_(_q.c.status.in_(OPEN), and_(_q.c.status == "processing", _q.c.celery_task_id == bindparam("task_id"))))
    .order_by(_q.c.id)
    .with_for_update()
)
"""Events whose failed attempt this task may record: still open, or still claimed by it."""

MARK_FAILED = (
    update(_q)
    .where(_q.c.id == bindparam("event_id"))
    .values(status="failed", retry_count=bindparam("attempts"), error_message=bindparam("message"),
            next_attempt_at=func.now() + bindparam("wait", type_=Interval), celery_task_id=bindparam("task_id"),
            locked_until=None, updated_at=func.now())
)

_done = (
    update(_q)
    .where(_q.c.id == any_(_IDS))
    .values(status="completed", result=bindparam("outcome"), celery_task_id=bindparam("task_id"),
            completed_at=func.now(), updated_at=func.now(), locked_until=None, next_attempt_at=None,
            error_message=None)
    .returning(_q.c.id, _q.c.entity_type, _q.c.entity_id, _q.c.operation)
    .cte("done")
)
COMPLETE = (
    insert(_audit)
    .from_select(
        ["action", "actor", "entity_type", "entity_id", "event_id"],
        select(case((bindparam("outcome") == "stale", "stale"), (_done.c.operation == "delete", "deactivated"),
                    else_="applied"),
               literal("worker"), _done.c.entity_type, _done.c.entity_id, _done.c.id),
    )
    .add_cte(_done)
    .returning(_audit.c.event_id)
)
"""Mark events completed with one `outcome` (applied | stale) and audit each, in one statement.

The caller holds the rows' locks and has checked them, so nothing is re-tested here."""

_dead = (
    update(_q)
    .where(_q.c.id == bindparam("event_id"))
    .values(status="dead", error_message=bindparam("message"), locked_until=None, next_attempt_at=None,
            updated_at=func.now())
    .returning(_q.c.id, _q.c.entity_type, _q.c.entity_id, _q.c.operation, _q.c.payload, _q.c.retry_count)
    .cte("dead")
)
_dead_letter_row = (
    insert(_dlq)
    .from_select(["original_id", "entity_type", "entity_id", "operation", "payload", "error_message", "error_class",
                  "retry_count"],
                 select(_dead.c.id, _dead.c.entity_type, _dead.c.entity_id, _dead.c.operation, _dead.c.payload,
                        bindparam("message"), bindparam("error_class"), _dead.c.retry_count))
    .returning(_dlq.c.original_id, _dlq.c.entity_type, _dlq.c.entity_id)
    .cte("letter")
)
DEAD_LETTER = (
    insert(_audit)
    .from_select(["action", "actor", "entity_type", "entity_id", "event_id", "details"],
                 select(literal("dead_lettered"), bindparam("actor"), _dead_letter_row.c.entity_type,
                        _dead_letter_row.c.entity_id, _dead_letter_row.c.original_id,
                        func.jsonb_build_object("error", func.cast(bindparam("message"), String))))
    .add_cte(_dead)
    .add_cte(_dead_letter_row)
    .returning(_audit.c.event_id)
)
"""Move one event to the dead-letter table, mark it `dead` and audit it: one statement."""

AUDIT = insert(_audit).values(action=bindparam("action"), actor=bindparam("actor"), details=bindparam("details"))

# -- healing ----------------------------------------------------------------------------------------------

_AFTER = bindparam("after", type_=Interval)

ORPHANS = (
    select(_q.c.id, _q.c.entity_type, _q.c.retry_count)
    .where(_q.c.status == "pending", func.coalesce(_q.c.enqueued_at, _q.c.created_at) < func.now() - _AFTER)
    .order_by(_q.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
"""Pending events nobody has woken for `after`: their message was lost, or is far behind."""

MARK_ENQUEUED = update(_q).where(_q.c.id == any_(_IDS)).values(enqueued_at=func.now())

STUCK = (
    select(_q.c.id, _q.c.entity_type, _q.c.retry_count, _q.c.max_retries)
    .where(_q.c.status == "processing",
           or_(_q.c.locked_until < func.now(), _q.c.updated_at < func.now() - bindparam("grace", type_=Interval)))
    .order_by(_q.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
"""Claimed events whose worker died (no transaction holds them) or whose lock expired."""

RELEASE = (
    update(_q)
    .where(_q.c.id == any_(_IDS))
    .values(status="failed", retry_count=_q.c.retry_count + 1, error_message="released: worker lost while processing",
            locked_until=None, next_attempt_at=func.now(), enqueued_at=func.now(), updated_at=func.now())
)
"""A released event counts the lost attempt, so a record that kills its worker is dead-lettered."""

DUE_RETRIES = (
    select(_q.c.id, _q.c.entity_type)
    .where(_q.c.status == "failed", _q.c.retry_count <= _q.c.max_retries,
           func.coalesce(_q.c.next_attempt_at, _q.c.updated_at) <= func.now() - literal(dt.timedelta(seconds=5)),
           func.coalesce(_q.c.enqueued_at, _q.c.updated_at) < func.now() - _AFTER)
    .order_by(_q.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)
"""Failed events whose retry is due and whose retry message was not sent recently."""

EXHAUSTED = (
    select(_q.c.id, _q.c.error_message)
    .where(_q.c.status == "failed", _q.c.retry_count > _q.c.max_retries)
    .order_by(_q.c.id)
    .limit(bindparam("batch"))
    .with_for_update(skip_locked=True)
)

PURGE_COMPLETED = delete(_q).where(
    _q.c.id.in_(
        select(_q.c.id)
        .where(_q.c.status == "completed", _q.c.completed_at < func.now() - bindparam("age", type_=Interval))
        .order_by(_q.c.id)
        .limit(bindparam("batch"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)

CLEAR_ALERT = (
    update(_alerts)
    .where(_alerts.c.check_name == bindparam("check"), _alerts.c.cleared_at.is_(None))
    .values(cleared_at=func.now())
)
RAISE_ALERT = (
    pg_insert(_alerts)
    .values(check_name=bindparam("check"), severity=bindparam("severity"), message=bindparam("message"),
            value=bindparam("value"))
    .on_conflict_do_nothing(index_elements=[_alerts.c.check_name], index_where=_alerts.c.cleared_at.is_(None))
)
"""Open an alert unless one for the same check is open already."""

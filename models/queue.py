"""The Postgres mirror of the queue: what must still happen, what happened, and why.

Redis only carries wake-up calls; these tables are the source of truth for every
accepted event, its attempts, its dead letter and the operator's audit trail.
"""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, Numeric, String, UniqueConstraint, text
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

"""Recording accepted events in `tds_sync_queue`, with duplicate detection.

Webhooks and bulk pulls both come through here. An event's dedupe key is the hash of
(entity, record id, operation, last_modified_time, payload hash): Zoho re-sending the
same body, or a pull meeting a record a webhook already brought, records nothing new.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

_INSERT = text(
    """
    INSERT INTO tds_sync_queue
           (entity_type, entity_id, operation, status, source, payload, payload_hash, dedupe_key,
            zoho_last_modified_at, max_retries, sync_run_id)
    SELECT e.entity_type, e.entity_id, e.operation, 'pending', e.source, CAST(e.payload AS jsonb), e.payload_hash,
           e.dedupe_key, e.lmt, e.max_retries, e.sync_run_id
      FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS e(
           entity_type text, entity_id text, operation text, source text, payload text, payload_hash text,
           dedupe_key text, lmt timestamptz, max_retries int, sync_run_id bigint)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id, dedupe_key
    """
)
_INSERT_ONE = text(
    """
    INSERT INTO tds_sync_queue
           (entity_type, entity_id, operation, status, source, payload, payload_hash, dedupe_key,
            zoho_last_modified_at, max_retries, sync_run_id)
    VALUES (:entity_type, :entity_id, :operation, 'pending', :source, CAST(:payload AS jsonb), :payload_hash,
            :dedupe_key, :lmt, :max_retries, :sync_run_id)
    ON CONFLICT (dedupe_key) DO NOTHING
    RETURNING id
    """
)
_EXISTING = text("SELECT id, dedupe_key FROM tds_sync_queue WHERE dedupe_key = ANY(:keys)")


@dataclass(frozen=True)
class NewEvent:
    entity_type: str
    entity_id: str
    operation: str
    payload_json: str
    payload_hash: str
    dedupe_key: str
    lmt: dt.datetime | None
    source: str = "webhook"
    max_retries: int = 5
    sync_run_id: int | None = None

    def params(self) -> dict[str, Any]:
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "operation": self.operation,
            "source": self.source,
            "payload": self.payload_json,
            "payload_hash": self.payload_hash,
            "dedupe_key": self.dedupe_key,
            "lmt": self.lmt,
            "max_retries": self.max_retries,
            "sync_run_id": self.sync_run_id,
        }


def make_event(
    entity_type: str,
    entity_id: str,
    operation: str,
    payload: dict[str, Any],
    lmt: dt.datetime | None,
    *,
    source: str = "webhook",
    max_retries: int = 5,
    sync_run_id: int | None = None,
) -> NewEvent:
    payload_json = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    payload_hash = hashlib.sha256(payload_json.encode()).hexdigest()
    stamp = lmt.isoformat() if lmt else ""
    dedupe_key = hashlib.sha256(
        "\x1f".join((entity_type, entity_id, operation, stamp, payload_hash)).encode()
    ).hexdigest()
    return NewEvent(entity_type, entity_id, operation, payload_json, payload_hash, dedupe_key, lmt,
                    source, max_retries, sync_run_id)


def record_event(conn: Connection, event: NewEvent) -> tuple[int, bool]:
    """Insert one event in the caller's transaction: `(event_id, created)`; False = duplicate."""
    new_id = conn.execute(_INSERT_ONE, event.params()).scalar()
    if new_id is not None:
        return new_id, True
    existing = conn.execute(_EXISTING, {"keys": [event.dedupe_key]}).first()
    if existing is None:  # the twin was purged between the two statements
        return conn.execute(_INSERT_ONE, event.params()).scalar_one(), True
    return existing.id, False


def record_events(conn: Connection, events: list[NewEvent]) -> list[tuple[int, bool]]:
    """Insert many events in one statement; returns `(event_id, created)` in input order."""
    if not events:
        return []
    unique: dict[str, NewEvent] = {}
    for e in events:
        unique.setdefault(e.dedupe_key, e)
    # Inserted in dedupe-key order: two transactions recording overlapping events never wait on each other in a cycle.
    rows = json.dumps([{**e.params(), "lmt": e.lmt.isoformat() if e.lmt else None}
                       for _, e in sorted(unique.items())])
    created = {k: i for i, k in conn.execute(_INSERT, {"rows": rows}).all()}
    missing = [k for k in unique if k not in created]
    existing = {k: i for i, k in conn.execute(_EXISTING, {"keys": missing}).all()} if missing else {}
    out = []
    seen_new: set[str] = set()
    for e in events:
        if e.dedupe_key in created and e.dedupe_key not in seen_new:
            seen_new.add(e.dedupe_key)
            out.append((created[e.dedupe_key], True))
        else:
            out.append((created.get(e.dedupe_key) or existing[e.dedupe_key], False))
    return out

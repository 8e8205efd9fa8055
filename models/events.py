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

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Connection,
    DateTime,
    Integer,
    String,
    Text,
    any_,
    bindparam,
    cast,
    column,
    func,
    literal,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from models.queue import SyncEvent

_q = SyncEvent.__table__
_FIELDS = {  # bind parameter (as `NewEvent.params` names it) → column
    "entity_type": _q.c.entity_type, "entity_id": _q.c.entity_id, "operation": _q.c.operation, "source": _q.c.source,
    "payload": _q.c.payload, "payload_hash": _q.c.payload_hash, "dedupe_key": _q.c.dedupe_key,
    "lmt": _q.c.zoho_last_modified_at, "max_retries": _q.c.max_retries, "sync_run_id": _q.c.sync_run_id,
}

# One event, one statement: in autocommit (the receiver) it is committed when it returns.
_INSERT_ONE = (
    pg_insert(_q)
    .values({col: cast(bindparam(name, type_=Text), JSONB) if name == "payload" else bindparam(name, type_=col.type)
             for name, col in _FIELDS.items()} | {_q.c.status: "pending"})
    .on_conflict_do_nothing(index_elements=[_q.c.dedupe_key])
    .returning(_q.c.id)
)

# A page of events in one statement: the rows travel as one JSON array, unpacked by
# jsonb_to_recordset with each column's own type.
_page = (
    func.jsonb_to_recordset(cast(bindparam("rows", type_=Text), JSONB))
    .table_valued(*(column(name, DateTime(timezone=True) if name == "lmt" else
                           Integer if name == "max_retries" else BigInteger if name == "sync_run_id" else Text)
                    for name in _FIELDS))
    .render_derived(name="e", with_types=True)
)
_INSERT = (
    pg_insert(_q)
    .from_select([*_FIELDS.values(), _q.c.status],
                 select(*(cast(_page.c[name], JSONB) if name == "payload" else _page.c[name] for name in _FIELDS),
                        literal("pending")))
    .on_conflict_do_nothing(index_elements=[_q.c.dedupe_key])
    .returning(_q.c.id, _q.c.dedupe_key)
)
_EXISTING = select(_q.c.id, _q.c.dedupe_key).where(_q.c.dedupe_key == any_(bindparam("keys", type_=ARRAY(String))))


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

"""Factories for queue-mirror rows, recorded exactly as the receiver records them."""
from __future__ import annotations

from models.db import get_engine
from models.events import make_event, record_event
from zoho.entities import get_entity
from zoho.mapper import last_modified


def add_event(entity: str, record_key: str, record: dict, operation: str = "upsert", max_retries: int = 5) -> int:
    ent = get_entity(entity)
    event = make_event(entity, ent.record_id(record), operation, {record_key: record}, last_modified(record),
                       max_retries=max_retries)
    with get_engine().begin() as conn:
        event_id, _ = record_event(conn, event)
    return event_id

"""Per-entity count of records accepted with a field of an unexpected shape (`tds_shape_warnings`).

The receiver keeps such a record (verbatim in `raw`) instead of refusing it; this table
makes how often that happens visible to every process (dashboard, `/metrics`).
"""
import datetime as dt
import json
from typing import Any

from sqlalchemy import BigInteger, func, text
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, intpk


class ShapeWarning(Base):
    """One row per entity: how many accepted records had a field of an unexpected shape."""

    __tablename__ = "tds_shape_warnings"

    id: Mapped[intpk]
    entity_type: Mapped[str] = mapped_column(unique=True)
    count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    last_fields: Mapped[list[Any] | None]
    last_entity_id: Mapped[str | None]
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(server_default=func.now())

_BUMP = text(
    """
    INSERT INTO tds_shape_warnings (entity_type, count, last_fields, last_entity_id, last_seen_at)
    VALUES (:e, :n, CAST(:fields AS jsonb), :zid, now())
    ON CONFLICT (entity_type) DO UPDATE SET count = tds_shape_warnings.count + EXCLUDED.count,
           last_fields = EXCLUDED.last_fields, last_entity_id = EXCLUDED.last_entity_id, last_seen_at = now()
    """
)


def record_shape_warning(conn, entity: str, fields: list[str], zoho_id: str | None, records: int = 1) -> None:
    """Count `records` accepted records of `entity` with unexpected shapes; remember the last one's fields."""
    conn.execute(_BUMP, {"e": entity, "n": records, "fields": json.dumps(fields[:50]), "zid": zoho_id})


def shape_warning_counts(conn) -> dict[str, dict[str, Any]]:
    """{entity: {"count", "last_fields", "last_entity_id", "last_seen_at"}} for every entity with warnings."""
    rows = conn.execute(text("SELECT entity_type, count, last_fields, last_entity_id, last_seen_at "
                             "FROM tds_shape_warnings ORDER BY entity_type")).mappings().all()
    return {r["entity_type"]: {"count": int(r["count"]), "last_fields": r["last_fields"],
                               "last_entity_id": r["last_entity_id"],
                               "last_seen_at": r["last_seen_at"].isoformat() if r["last_seen_at"] else None}
            for r in rows}

"""tds_sync_queue: drop three indexes every completion had to update and no query needs

Completing an event changes `status`, `completed_at` and `updated_at`, so the update can
never be HOT and every index on the table gets a new entry. Three of them answer nothing
the others do not:

- `ix_tds_sync_queue_status` (status): unfinished statuses are read through the partial
  `ix_tds_sync_queue_open` / `ix_tds_sync_queue_unfinished`, completed rows through
  `ix_tds_sync_queue_entity_completed`;
- `ix_tds_sync_queue_entity_type` (entity_type): the leading column of
  `ix_tds_sync_queue_entity_record` (entity_type, entity_id);
- `ix_tds_sync_queue_completed_at` (completed_at): per-entity figures use
  `ix_tds_sync_queue_entity_completed`; the purge walks the primary key (old ids first).

tests/webhook_app/test_dashboard_indexes.py still finds no sequential scan on a 200k mirror.

Revision ID: 0004_queue_index_trim
Revises: 0003_images
Create Date: 2026-11-30
"""
from alembic import op

revision = "0004_queue_index_trim"
down_revision = "0003_images"
branch_labels = None
depends_on = None

_DROPPED = {
    "ix_tds_sync_queue_status": ["status"],
    "ix_tds_sync_queue_entity_type": ["entity_type"],
    "ix_tds_sync_queue_completed_at": ["completed_at"],
}


def upgrade() -> None:
    for name in _DROPPED:
        op.drop_index(name, table_name="tds_sync_queue", if_exists=True)


def downgrade() -> None:
    for name, columns in _DROPPED.items():
        op.create_index(name, "tds_sync_queue", columns)

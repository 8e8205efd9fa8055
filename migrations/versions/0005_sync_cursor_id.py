"""tds_sync_cursors gets an integer `id` like every other table (docs/reference.md#tables)

The natural key (entity_type, source_key) stays unique: the pull's cursor upsert keeps
using it in `ON CONFLICT`.

Revision ID: 0005_sync_cursor_id
Revises: 0004_queue_index_trim
Create Date: 2026-11-30
"""
from alembic import op

revision = "0005_sync_cursor_id"
down_revision = "0004_queue_index_trim"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE tds_sync_cursors DROP CONSTRAINT tds_sync_cursors_pkey")
    op.execute("ALTER TABLE tds_sync_cursors ADD COLUMN id BIGSERIAL")
    op.execute("ALTER TABLE tds_sync_cursors ADD CONSTRAINT tds_sync_cursors_pkey PRIMARY KEY (id)")
    op.create_unique_constraint("uq_tds_sync_cursors_entity_source", "tds_sync_cursors", ["entity_type", "source_key"])


def downgrade() -> None:
    op.drop_constraint("uq_tds_sync_cursors_entity_source", "tds_sync_cursors", type_="unique")
    op.execute("ALTER TABLE tds_sync_cursors DROP CONSTRAINT tds_sync_cursors_pkey")
    op.drop_column("tds_sync_cursors", "id")
    op.execute("ALTER TABLE tds_sync_cursors ADD CONSTRAINT tds_sync_cursors_pkey PRIMARY KEY (entity_type, source_key)")

"""Group attempts: the evidence a worker's death leaves, so the poison rule holds on any pool

`tds_group_attempts` holds one row per group of events a worker has begun to apply, committed
before anything that might kill the worker and deleted by the applying transaction. A row
that outlives its transaction names events whose worker died: each then runs alone.
Small and churned (a row in and out per group): autovacuum visits it after every 200 changes.

Revision ID: 0010_group_attempts
Revises: 0009_ops
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

revision = "0010_group_attempts"
down_revision = "0009_ops"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tds_group_attempts",
        sa.Column("id", sa.BigInteger, autoincrement=True, primary_key=True),
        sa.Column("celery_task_id", sa.String(64), nullable=False),
        sa.Column("event_ids", ARRAY(sa.BigInteger), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.execute("ALTER TABLE tds_group_attempts SET (autovacuum_vacuum_threshold = 200, "
               "autovacuum_vacuum_scale_factor = 0, autovacuum_analyze_threshold = 200, "
               "autovacuum_analyze_scale_factor = 0)")


def downgrade() -> None:
    op.drop_table("tds_group_attempts")

"""Operations: pull chains keep their state in the run row, reconcile results, alert acknowledgement

- `tds_sync_runs.page_state`: where a pull advancing page task by page task has got (the
  source, page, keyset cursor, the rows of a page not yet recorded, the sweep's position).
- `tds_sync_run_seen`: the Zoho ids a full pull saw, page by page, for its deletion sweep.
- `tds_reconcile_results`: Zoho vs ERP per entity after each reconciliation.
- `tds_alerts.acknowledged_at` / `acknowledged_by`: an operator saw it.

Revision ID: 0009_ops
Revises: 0008_shared_images
Create Date: 2026-12-02
"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009_ops"
down_revision = "0008_shared_images"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("tds_sync_runs", sa.Column("page_state", JSONB))
    op.create_table(
        "tds_sync_run_seen",
        sa.Column("run_id", sa.BigInteger, sa.ForeignKey("tds_sync_runs.id", ondelete="CASCADE"), nullable=False),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("zoho_id", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "entity_type", "zoho_id"),
    )
    op.create_table(
        "tds_reconcile_results",
        sa.Column("id", sa.BigInteger, autoincrement=True, primary_key=True),
        sa.Column("entity_type", sa.String(32), nullable=False),
        sa.Column("run_id", sa.BigInteger),
        sa.Column("zoho_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("erp_count", sa.Integer, nullable=False, server_default="0"),
        sa.Column("missing", sa.Integer, nullable=False, server_default="0"),
        sa.Column("stale", sa.Integer, nullable=False, server_default="0"),
        sa.Column("extra", sa.Integer, nullable=False, server_default="0"),
        sa.Column("match_pct", sa.Numeric(6, 2)),
        sa.Column("details", JSONB),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index("ix_tds_reconcile_results_entity_at", "tds_reconcile_results", ["entity_type", "reconciled_at"])
    op.add_column("tds_alerts", sa.Column("acknowledged_at", sa.DateTime(timezone=True)))
    op.add_column("tds_alerts", sa.Column("acknowledged_by", sa.Text))


def downgrade() -> None:
    op.drop_column("tds_alerts", "acknowledged_by")
    op.drop_column("tds_alerts", "acknowledged_at")
    op.drop_index("ix_tds_reconcile_results_entity_at", table_name="tds_reconcile_results")
    op.drop_table("tds_reconcile_results")
    op.drop_table("tds_sync_run_seen")
    op.drop_column("tds_sync_runs", "page_state")

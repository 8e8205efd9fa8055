"""product image sync state: which Zoho image marker `image_url` belongs to, and failures

`images.sync_products` compares `image_synced_key` with the marker Zoho sends on every
item (`image_document_id`, `image_name`), so it downloads only images that are new or
changed; `image_failures` / `image_error` keep a failed fetch visible until a later run
succeeds.

Revision ID: 0003_images
Revises: 0002
Create Date: 2026-11-23
"""
from alembic import op
import sqlalchemy as sa

revision = "0003_images"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("products", sa.Column("image_synced_key", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("image_checked_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("products", sa.Column("image_error", sa.Text(), nullable=True))
    op.add_column("products", sa.Column("image_failures", sa.Integer(), nullable=True))


def downgrade() -> None:
    for column in ("image_failures", "image_error", "image_checked_at", "image_synced_key"):
        op.drop_column("products", column)

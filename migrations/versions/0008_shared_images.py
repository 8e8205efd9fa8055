"""product pictures move from one host's disk into `product_images` (bytea), served by the receiver

`products.image_url` becomes the stable URL path `/api/zoho/images/<sha256>.<ext>` every
host can serve. Pictures already on this host's disk (the old `image_url`, an absolute
path) are copied in; a product whose file is not on this host is marked for a fresh
download (its `image_synced_key` cleared), so the next `images.sync_products` fetches it.

Revision ID: 0008_shared_images
Revises: 0007_more_entities
Create Date: 2026-12-02
"""
import hashlib
import os

import sqlalchemy as sa
from alembic import op

revision = "0008_shared_images"
down_revision = "0007_more_entities"
branch_labels = None
depends_on = None

URL_PREFIX = "/api/zoho/images/"
CONTENT_TYPES = {"jpg": "image/jpeg", "png": "image/png", "gif": "image/gif", "webp": "image/webp",
                 "bmp": "image/bmp", "tif": "image/tiff", "svg": "image/svg+xml", "heic": "image/heic",
                 "avif": "image/avif"}


def upgrade() -> None:
    op.create_table(
        "product_images",
        sa.Column("sha256", sa.Text(), primary_key=True),
        sa.Column("ext", sa.Text(), nullable=False),
        sa.Column("content_type", sa.Text(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT id, image_url, image_hash FROM products WHERE image_url IS NOT NULL AND image_url NOT LIKE '/api/%'"
    )).all()
    for r in rows:
        ext = os.path.splitext(r.image_url)[1].lstrip(".").lower() or "bin"
        try:
            with open(r.image_url, "rb") as f:
                data = f.read()
        except OSError:
            conn.execute(sa.text("UPDATE products SET image_url = NULL, image_hash = NULL, image_synced_key = NULL "
                                 "WHERE id = :id"), {"id": r.id})
            continue

        sha = hashlib.sha256(data).hexdigest()
        conn.execute(sa.text(
            "INSERT INTO product_images (sha256, ext, content_type, size, data) VALUES (:s, :e, :c, :n, :d) "
            "ON CONFLICT (sha256) DO NOTHING"),
            {"s": sha, "e": ext, "c": CONTENT_TYPES.get(ext, "application/octet-stream"), "n": len(data), "d": data})
        conn.execute(sa.text("UPDATE products SET image_url = :u, image_hash = :s WHERE id = :id"),
                     {"u": f"{URL_PREFIX}{sha}.{ext}", "s": sha, "id": r.id})


def downgrade() -> None:
    # The bytes have no place on disk to go back to: the next image sync downloads them again.
    op.execute("UPDATE products SET image_url = NULL, image_hash = NULL, image_synced_key = NULL "
               "WHERE image_url LIKE '/api/zoho/images/%'")
    op.drop_table("product_images")

"""Migration 0008_shared_images: pictures on the migrating host's disk move into `product_images`; others re-fetch."""
from __future__ import annotations

import hashlib
import os

from sqlalchemy import text

REVISION = "0008_shared_images"


def alembic(direction: str, target: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "alembic.ini"))
    getattr(command, direction)(cfg, target)


def test_local_pictures_are_copied_into_the_shared_store_and_missing_ones_marked_for_download(db, tmp_path):
    picture = b"\x89PNG\r\n\x1a\n" + b"pixels" * 10
    on_disk = tmp_path / "ab" / "picture.png"
    on_disk.parent.mkdir()
    on_disk.write_bytes(picture)
    alembic("downgrade", f"{REVISION}-1")
    try:
        with db.begin() as c:
            c.execute(text(
                "INSERT INTO products (zoho_item_id, name, image_url, image_hash, image_synced_key) VALUES "
                "('1', 'here', :here, 'old', 'doc/a.png'), ('2', 'gone', '/nowhere/x.jpg', 'old', 'doc/b.jpg'), "
                "('3', 'none', NULL, NULL, '')"), {"here": str(on_disk)})
    finally:
        alembic("upgrade", "head")
    sha = hashlib.sha256(picture).hexdigest()
    with db.connect() as c:
        rows = {r.zoho_item_id: r for r in c.execute(text(
            "SELECT zoho_item_id, image_url, image_hash, image_synced_key FROM products"))}
        stored = c.execute(text("SELECT sha256, ext, content_type, size, data FROM product_images")).all()
    assert (rows["1"].image_url, rows["1"].image_hash, rows["1"].image_synced_key) == (
        f"/api/zoho/images/{sha}.png", sha, "doc/a.png")
    assert (rows["2"].image_url, rows["2"].image_hash, rows["2"].image_synced_key) == (None, None, None)
    assert (rows["3"].image_url, rows["3"].image_synced_key) == (None, "")
    assert [(s.sha256, s.ext, s.content_type, s.size, bytes(s.data)) for s in stored] == [
        (sha, "png", "image/png", len(picture), picture)]

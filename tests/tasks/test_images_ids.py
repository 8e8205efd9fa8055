"""Issue 14: a Zoho id reaches the image URL only when it is one (digits): `.` or `..` must not change its path."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.tasks.test_images import Items, image_calls, rows, run, sync_to_erp
from tests.zoho.client.conftest import sandbox, sandbox_url  # noqa: F401  (fixtures)


@pytest.mark.parametrize("bad_id", ["..", ".", "1/../2"])
def test_an_item_id_that_is_not_digits_never_reaches_the_image_url(sandbox, db, bad_id):  # noqa: F811
    items = Items(sandbox)
    good, victim = items.distinct[:2]
    sync_to_erp(sandbox, [good, victim])
    with db.begin() as c:
        c.execute(text("UPDATE products SET zoho_item_id = :bad WHERE zoho_item_id = :v"), {"bad": bad_id, "v": victim})
    before = sum(sandbox.stats()["api_calls_by_path"].values())

    result = run()  # pictures go to the shared product_images table: no directory to escape

    assert (result["downloaded"], result["failed"]) == (1, 1)
    assert "not a Zoho item id" in rows(db, [bad_id])[bad_id].image_error
    assert image_calls(sandbox) == 1 and sum(sandbox.stats()["api_calls_by_path"].values()) == before + 1

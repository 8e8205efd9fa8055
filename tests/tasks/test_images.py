"""`images.sync_products` against the sandbox over HTTP (a separate process) and real PostgreSQL and Redis.

Products reach the ERP through the real pipeline from the sandbox's current records; the
sandbox counts every image call, so "downloads nothing" is measured where Zoho would see it.
"""
from __future__ import annotations

import hashlib
import json
import threading
from collections import Counter

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from tasks.images import ImageSync, _redis, sync_product_images, sync_products
from tasks.pipeline import pipeline_for
from tests.support.events import add_event
from tests.zoho.client.conftest import Sandbox, sandbox, sandbox_url  # noqa: F401  (fixtures)
from zoho.client import ZohoClient
from zoho.ratelimit import RateLimiter

IMAGE_PATH = "/inventory/v1/items/{id}/image"


# -- helpers ----------------------------------------------------------------------------------

def image_calls(sb: Sandbox) -> int:
    return sb.stats()["api_calls_by_path"].get(IMAGE_PATH, 0)


def sync_to_erp(sb: Sandbox, ids: list[str]) -> None:
    """Apply the sandbox's current records for `ids` through the products pipeline, as a webhook would."""
    events = [add_event("products", "item", sb.control("GET", f"/records/products/{i}").json()["record"])
              for i in ids]
    out = pipeline_for("products").run(events, "test")
    assert sorted(out.applied) == sorted(events)


def rows(db, ids: list[str]) -> dict:
    with db.connect() as c:
        found = c.execute(text("SELECT * FROM products WHERE zoho_item_id = ANY(:ids)"), {"ids": ids}).all()
    return {r.zoho_item_id: r for r in found}


def stored(db) -> list[str]:
    """The sha256 of every picture in the shared store."""
    with db.connect() as c:
        return sorted(c.execute(text("SELECT sha256 FROM product_images")).scalars())


def picture(db, sha: str) -> bytes:
    with db.connect() as c:
        return bytes(c.execute(text("SELECT data FROM product_images WHERE sha256 = :s"), {"s": sha}).scalar_one())


class Items:
    """Sandbox items picked by what the tests need (the seeded organisation is deterministic)."""

    def __init__(self, sb: Sandbox):
        records = sb.records("products")
        with_image = [r for r in records if r.get("image_name")]
        by_name = Counter(r["image_name"] for r in with_image)
        self.shared = [r["item_id"] for r in with_image if by_name[r["image_name"]] == 2][:2]
        self.distinct = [r["item_id"] for r in with_image if by_name[r["image_name"]] == 1]
        self.png = [r["item_id"] for r in with_image if r.get("image_type") == "png" and by_name[r["image_name"]] == 1]
        self.without = [r["item_id"] for r in records if not r.get("image_name") and r.get("product_type") == "goods"]
        assert len(self.shared) == 2 and len(self.distinct) > 10 and self.png and len(self.without) > 2


def fast_client(**kw) -> ZohoClient:
    kw.setdefault("backoff_base", 0.01)
    return ZohoClient(**kw)


def run(**kw) -> dict:
    kw.setdefault("client", fast_client())
    return ImageSync(**kw).run()


@pytest.fixture
def items(sandbox: Sandbox, db) -> Items:
    return Items(sandbox)


# -- downloads and storage ----------------------------------------------------------------------

def test_images_are_downloaded_once_and_stored_under_their_sha256_in_the_shared_store(sandbox, db, items):
    with_image = [items.png[0], *[i for i in items.distinct if i != items.png[0]][:2]]
    ids = [*with_image, items.without[0]]
    sync_to_erp(sandbox, ids)

    result = run()

    assert result["status"] == "completed"
    assert {k: result[k] for k in ("checked", "downloaded", "files_written", "reused", "without_image", "failed")} == {
        "checked": 4, "downloaded": 3, "files_written": 3, "reused": 0, "without_image": 1, "failed": 0}
    assert image_calls(sandbox) == 3 == result["api_calls"]  # none for the product Zoho lists without a picture
    stored_rows = rows(db, ids)
    served = fast_client()
    for zid in with_image:
        row = stored_rows[zid]
        data = picture(db, row.image_hash)
        assert data == served.get_item_image(zid)[0]  # exactly what Zoho serves
        assert row.image_hash == hashlib.sha256(data).hexdigest()
        ext = "png" if zid == items.png[0] else "jpg"
        assert row.image_url == f"/api/zoho/images/{row.image_hash}.{ext}"  # a URL path every host serves
        assert data.startswith(b"\x89PNG" if ext == "png" else b"\xff\xd8\xff")
        assert row.image_failures is None and row.image_error is None and row.image_checked_at is not None
    assert stored_rows[items.without[0]].image_url is None and stored_rows[items.without[0]].image_synced_key == ""
    assert len(stored(db)) == 3

    with db.connect() as c:
        runs = c.execute(text("SELECT * FROM tds_sync_runs")).all()
    assert len(runs) == 1
    r = runs[0]
    assert (r.entity_type, r.kind, r.status, r.fetched, r.failed, r.api_calls) == (
        "product-images", "images", "completed", 4, 0, 3)
    assert r.details["downloaded"] == 3 and r.details["without_image"] == 1 and r.finished_at is not None


def test_two_products_with_the_same_bytes_share_one_stored_picture(sandbox, db, items):
    sync_to_erp(sandbox, items.shared)

    result = run()

    a, b = (rows(db, items.shared)[i] for i in items.shared)
    assert a.image_url == b.image_url and a.image_hash == b.image_hash
    assert stored(db) == [a.image_hash]
    assert (result["downloaded"], result["files_written"], result["reused"]) == (2, 1, 1)


def test_products_sharing_a_zoho_image_document_need_one_download(sandbox, db, items):
    created = [sandbox.control("POST", "/records/products", json={"record": {
        "image_document_id": "4815000000999001", "image_name": "shared-photo.jpg", "image_type": "jpg",
        "product_type": "goods"}}).json()["record"]["item_id"] for _ in range(3)]
    sync_to_erp(sandbox, created[:2])
    first = run()
    assert (first["downloaded"], first["reused"], image_calls(sandbox)) == (1, 1, 1)

    sync_to_erp(sandbox, created[2:])  # arrives later: its picture is already stored
    second = run()
    assert (second["checked"], second["downloaded"], second["reused"], image_calls(sandbox)) == (1, 0, 1, 1)
    assert len({r.image_url for r in rows(db, created).values()}) == 1 and len(stored(db)) == 1


def test_a_second_run_downloads_nothing_and_rewrites_no_picture(sandbox, db, items):
    ids = [*items.distinct[:3], items.without[0]]
    sync_to_erp(sandbox, ids)
    run()
    calls = image_calls(sandbox)
    with db.begin() as c:
        c.execute(text("UPDATE product_images SET created_at = '2000-01-01'"))

    again = run()

    assert (again["checked"], again["downloaded"], again["without_image"], again["api_calls"]) == (0, 0, 0, 0)
    assert image_calls(sandbox) == calls

    # Forced to fetch again (marker forgotten): the same bytes land on the same row, untouched.
    with db.begin() as c:
        c.execute(text("UPDATE products SET image_synced_key = NULL WHERE zoho_item_id = :z"), {"z": ids[0]})
    forced = run()
    assert (forced["downloaded"], forced["files_written"], forced["reused"]) == (1, 0, 1)
    with db.connect() as c:
        assert c.execute(text("SELECT count(*) FROM product_images WHERE created_at = '2000-01-01'")).scalar() == 3
    assert len(stored(db)) == 3


def test_a_changed_image_in_zoho_is_downloaded_again_and_a_removed_one_cleared(sandbox, db, items):
    zid = items.without[0]
    sync_to_erp(sandbox, [zid])
    assert run()["without_image"] == 1

    def set_image(doc: str, name: str) -> None:
        sandbox.control("POST", f"/records/products/{zid}/touch", json={"fields": {
            "image_document_id": doc, "image_name": name, "image_type": "jpg" if name else ""}, "webhook": False})
        sync_to_erp(sandbox, [zid])

    set_image("4815000000777001", "front.jpg")
    first = run()
    url1 = rows(db, [zid])[zid].image_url
    assert first["downloaded"] == 1 and url1 and rows(db, [zid])[zid].image_hash in stored(db)

    set_image("4815000000777002", "front-2.jpg")
    second = run()
    row = rows(db, [zid])[zid]
    assert (second["checked"], second["downloaded"], second["files_written"]) == (1, 1, 1)
    assert row.image_url != url1 and picture(db, row.image_hash) == fast_client().get_item_image(zid)[0]

    calls = image_calls(sandbox)
    set_image("", "")
    third = run()
    row = rows(db, [zid])[zid]
    assert (third["without_image"], third["failed"]) == (1, 0)
    assert row.image_url is None and row.image_hash is None and image_calls(sandbox) == calls


def test_an_item_zoho_has_no_picture_for_counts_as_without_image_not_as_a_failure(sandbox, db, items):
    zid = items.distinct[0]
    sync_to_erp(sandbox, [zid])
    sandbox.control("DELETE", f"/records/products/{zid}?webhook=false")  # the image GET now answers 404 code 1002

    result = run()

    assert (result["without_image"], result["failed"], result["status"]) == (1, 0, "completed")
    assert rows(db, [zid])[zid].image_url is None


# -- failures -----------------------------------------------------------------------------------

def test_failing_downloads_are_counted_and_retried_on_the_next_run(sandbox, db, items):
    ids = items.distinct[:3]
    sync_to_erp(sandbox, ids)
    sandbox.configure(fail_rate=1.0)

    failed = run(client=fast_client(max_attempts=1))

    assert (failed["failed"], failed["downloaded"], failed["status"]) == (3, 0, "completed")
    for row in rows(db, ids).values():
        assert row.image_url is None and row.image_failures == 1 and "HTTP 500" in row.image_error
    with db.connect() as c:
        assert c.execute(text("SELECT failed FROM tds_sync_runs")).scalar_one() == 3

    sandbox.configure(fail_rate=0.0)
    healed = run()
    assert (healed["checked"], healed["downloaded"], healed["failed"]) == (3, 3, 0)
    for row in rows(db, ids).values():
        assert row.image_url and row.image_failures is None and row.image_error is None


def test_one_product_failing_does_not_stop_the_others(sandbox, db, items):
    ids = items.distinct[:4]
    sync_to_erp(sandbox, ids)
    sha = hashlib.sha256(fast_client().get_item_image(ids[0])[0]).hexdigest()
    with db.begin() as c:  # the store refuses exactly this picture
        c.execute(text(f"ALTER TABLE product_images ADD CONSTRAINT refuse_one CHECK (sha256 <> '{sha}')"))
    try:
        result = run()
    finally:
        with db.begin() as c:
            c.execute(text("ALTER TABLE product_images DROP CONSTRAINT refuse_one"))

    assert (result["downloaded"], result["failed"]) == (3, 1)
    found = rows(db, ids)
    assert found[ids[0]].image_url is None and "IntegrityError" in found[ids[0]].image_error
    assert all(found[i].image_url for i in ids[1:])

    retried = run()
    assert (retried["checked"], retried["downloaded"], retried["failed"]) == (1, 1, 0)
    assert rows(db, ids)[ids[0]].image_url == f"/api/zoho/images/{sha}.jpg"


def test_repeated_failures_back_off_instead_of_costing_a_call_every_run(sandbox, db, items):
    zid = items.distinct[0]
    sync_to_erp(sandbox, [zid])
    with db.begin() as c:
        c.execute(text("UPDATE products SET image_failures = 5, image_checked_at = now() WHERE zoho_item_id = :z"),
                  {"z": zid})
    assert run()["checked"] == 0
    with db.begin() as c:
        c.execute(text("UPDATE products SET image_checked_at = now() - interval '5 hours' WHERE zoho_item_id = :z"),
                  {"z": zid})
    assert run()["downloaded"] == 1


# -- the shared limiter -------------------------------------------------------------------------

class SpyLimiter(RateLimiter):
    def __init__(self, **kw):
        super().__init__(**kw)
        self.priorities: list[str] = []
        self._lock = threading.Lock()

    def acquire(self, priority: str = "realtime", timeout: float = 30.0) -> float:
        with self._lock:
            self.priorities.append(priority)
        return super().acquire(priority, timeout)


def test_every_download_takes_a_bulk_slot_from_the_shared_limiter_and_runs_concurrently(sandbox, db, items):
    ids = items.distinct[:6]
    sync_to_erp(sandbox, ids)
    sandbox.configure(latency_ms=200)
    spy = SpyLimiter()
    client = fast_client(limiter=spy)
    in_flight, peak, lock = [0], [0], threading.Lock()
    real_get = client.session.get

    def counting_get(*a, **kw):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        try:
            return real_get(*a, **kw)
        finally:
            with lock:
                in_flight[0] -= 1

    client.session.get = counting_get

    result = run(client=client, workers=3)

    assert result["downloaded"] == 6
    assert spy.priorities == ["bulk"] * 6 == ["bulk"] * image_calls(sandbox)
    assert peak[0] >= 2  # a pool, not one call after another


def test_a_spent_daily_budget_stops_the_run_and_leaves_the_rest_for_later(sandbox, db, items):
    ids = items.distinct[:5]
    sync_to_erp(sandbox, ids)
    limiter = RateLimiter(daily_budget=1, namespace="images-test")  # the bulk share of one call a day: one call

    result = run(client=fast_client(limiter=limiter), workers=1)

    assert image_calls(sandbox) == 1
    # A budget stop is not an image failure: the run says it waits for budget, the rest is deferred.
    assert result["status"] == "rate_limited" and "RateLimited" in result["error"]
    assert (result["downloaded"], result["failed"], result["deferred"]) == (1, 0, 4)
    assert q_failed_images(db) == 0  # no product starts a back-off for it
    later = run()  # a fresh budget: everything not stored is picked up
    assert (later["checked"], later["downloaded"]) == (4, 4)


def test_downloads_wait_for_a_call_slot_as_long_as_a_pull_does():
    from tasks.bulk import BULK_ACQUIRE_TIMEOUT
    from tasks.images import BUDGET_WAIT_SECONDS

    assert ImageSync().client.acquire_timeout == BUDGET_WAIT_SECONDS == BULK_ACQUIRE_TIMEOUT


def q_failed_images(db) -> int:
    from sqlalchemy import text

    with db.connect() as c:
        return c.execute(text("SELECT count(*) FROM products WHERE image_error IS NOT NULL")).scalar_one()


# -- the task, the lock and the CLI -------------------------------------------------------------

def test_the_task_and_the_cli_use_the_shared_store_and_skip_when_a_run_holds_the_lock(sandbox, db, items):
    sync_to_erp(sandbox, items.distinct[:2])

    lock = _redis().lock("zohosync:lock:images.sync_products", timeout=30)
    assert lock.acquire(blocking=False)
    try:
        assert sync_products.run() == {"status": "skipped", "reason": "already running"}
        from tasks.cli import main

        busy = CliRunner().invoke(main, ["images", "--json"])
        assert busy.exit_code == 1
    finally:
        lock.release()

    from tasks.cli import main

    out = CliRunner().invoke(main, ["images", "--json"])
    assert out.exit_code == 0, out.output
    summary = json.loads(out.output)
    assert (summary["downloaded"], summary["store"]) == (2, "postgresql:product_images")
    assert len(stored(db)) == 2
    assert sync_product_images()["checked"] == 0


def test_the_receiver_serves_a_stored_picture_at_its_url_and_by_item_id(sandbox, db, items, client):
    zid = items.png[0]
    sync_to_erp(sandbox, [zid])
    run()
    row = rows(db, [zid])[zid]

    by_content = client.get(row.image_url)
    assert by_content.status_code == 200 and by_content.data == picture(db, row.image_hash)
    assert by_content.content_type == "image/png" and "immutable" in by_content.headers["Cache-Control"]
    assert by_content.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get(row.image_url, headers={"If-None-Match": f'"{row.image_hash}"'}).status_code == 304
    by_item = client.get(f"/api/zoho/images/{zid}")
    assert by_item.status_code == 200 and by_item.data == by_content.data
    for missing in (f"/api/zoho/images/{'0' * 64}.png", "/api/zoho/images/1234", "/api/zoho/images/..%2Fetc",
                    "/api/zoho/images/not-a-name.jpg"):
        answer = client.get(missing)
        assert answer.status_code == 404 and answer.is_json, missing


def test_the_task_is_registered_routed_to_the_bulk_queue_and_scheduled():
    from beat_schedule import beat_schedule
    from tasks import app

    assert "images.sync_products" in app.tasks
    assert app.amqp.router.route({}, "images.sync_products")["queue"].name == "bulk"
    assert beat_schedule["images.sync_products"]["task"] == "images.sync_products"

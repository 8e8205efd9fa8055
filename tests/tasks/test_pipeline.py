"""The generic pipeline against real PostgreSQL: exactly-once effect, newest wins, classified failures."""
from __future__ import annotations

import base64
import json
from decimal import Decimal

from sqlalchemy import text

from tasks.heal import dead_letter_exhausted, enqueue_orphans, release_stuck, requeue_failed
from tasks.pipeline import pipeline_for
from tests.support.events import add_event
from tests.support.forks import exit_code_of_forked
from tests.support.webhooks import item

ZID = "2646610000000113826"


def q(db, sql, **params):
    with db.begin() as c:
        return c.execute(text(sql), params).all()


def event_row(db, event_id):
    return q(db, "SELECT * FROM tds_sync_queue WHERE id = :i", i=event_id)[0]


def product(db):
    rows = q(db, "SELECT * FROM products WHERE zoho_item_id = :z", z=ZID)
    return rows[0] if rows else None


def test_an_event_lands_as_a_product_and_is_marked_completed_with_an_audit_entry(db):
    eid = add_event("products", "item", item(rate="29.36"))
    out = pipeline_for("products").run([eid], "task-1")
    assert out.applied == [eid]
    row = event_row(db, eid)
    assert (row.status, row.result, row.celery_task_id) == ("completed", "applied", "task-1")
    assert row.completed_at is not None and row.locked_until is None
    p = product(db)
    assert p.unit_price == Decimal("29.36") and p.cost_price is None and p.name_ar == "حقيبة صغيرة"
    assert q(db, "SELECT action, event_id FROM tds_audit_trail") == [("applied", eid)]


def test_running_the_same_event_twice_applies_it_once(db):
    eid = add_event("products", "item", item())
    pipeline_for("products").run([eid], "task-1")
    again = pipeline_for("products").run([eid], "task-2")
    assert again.skipped == [eid] and not again.applied
    assert len(q(db, "SELECT 1 FROM tds_audit_trail")) == 1
    assert event_row(db, eid).celery_task_id == "task-1"


def test_an_older_version_arriving_after_a_newer_one_is_completed_as_stale_and_changes_nothing(db):
    new = add_event("products", "item", item(lmt="2025-11-05T10:00:00+0300", name="new name"))
    old = add_event("products", "item", item(lmt="2025-11-04T10:00:00+0300", name="old name"))
    pipeline_for("products").run([new], "t1")
    out = pipeline_for("products").run([old], "t2")
    assert out.stale == [old]
    assert event_row(db, old).result == "stale"
    assert product(db).name == "new name"


def test_delete_marks_the_product_inactive_and_keeps_its_history(db):
    pipeline_for("products").run([add_event("products", "item", item())], "t1")
    pipeline_for("products").run([add_event("products", "item", {"item_id": ZID}, operation="delete")], "t2")
    p = product(db)
    assert p.is_active is False and p.name == "Bags-small"


def test_unmappable_payload_goes_straight_to_the_dead_letter_table_with_error_and_payload(db):
    # An odd field (rate "not a number") is only a shape warning now; a payload with no record is unmappable.
    eid = add_event("products", "itemz", item(rate="not a number"))
    out = pipeline_for("products").run([eid], "t1")
    assert out.dead == [eid]
    row = event_row(db, eid)
    assert row.status == "dead" and "no 'item' record" in row.error_message
    dlq = q(db, "SELECT original_id, entity_type, entity_id, payload, error_message FROM tds_dead_letter_queue")
    assert len(dlq) == 1
    assert dlq[0].original_id == eid and dlq[0].entity_id == ZID and dlq[0].payload["itemz"]["rate"] == "not a number"
    assert product(db) is None


def claim(event_id: int, task_id: str) -> None:
    """What a worker running an event alone has committed before it died: its claim."""
    import datetime as dt

    from models import queue as sql
    from models.db import get_engine

    with get_engine().begin() as c:
        c.execute(sql.CLAIM, {"ids": [event_id], "task_id": task_id, "lock": dt.timedelta(minutes=30)})


def failing_database(monkeypatch):
    from sqlalchemy.exc import OperationalError

    import tasks.pipeline as pipeline_module

    def boom(conn, records):
        raise OperationalError("INSERT …", {}, Exception("server closed the connection"))

    monkeypatch.setattr(pipeline_module, "apply_records", boom)


def test_transient_failures_back_off_and_dead_letter_after_max_retries(db, monkeypatch):
    failing_database(monkeypatch)
    pipe = pipeline_for("products")
    eid = add_event("products", "item", item(), max_retries=2)
    waits = []
    for attempt in (1, 2, 3):
        q(db, "UPDATE tds_sync_queue SET next_attempt_at = NULL WHERE id = :i RETURNING id", i=eid)
        out = pipe.run([eid], f"t{attempt}")
        waits.append(out.retry_in)
        row = event_row(db, eid)
        if attempt < 3:
            assert out.retry == [eid] and (row.status, row.retry_count) == ("failed", attempt)
            assert row.next_attempt_at is not None and "server closed" in row.error_message
        else:
            assert out.dead == [eid] and row.status == "dead"
    assert 1.0 <= waits[0] < 2.0 and 2.0 <= waits[1] < 3.0 and waits[2] is None
    assert len(q(db, "SELECT 1 FROM tds_dead_letter_queue")) == 1


def test_a_failed_event_is_not_taken_before_its_retry_is_due(db, monkeypatch):
    pipe = pipeline_for("products")
    eid = add_event("products", "item", item())
    with monkeypatch.context() as m:
        failing_database(m)
        assert pipe.run([eid], "t1").retry == [eid]
    assert pipe.run([eid], "t2").skipped == [eid]
    assert event_row(db, eid).status == "failed"


def test_a_claim_taken_over_by_the_healer_is_never_applied_by_the_first_worker(db):
    from models import queue as sql

    pipe = pipeline_for("products")
    eid = add_event("products", "item", item())
    claim(eid, "dead-worker")
    q(db, "UPDATE tds_sync_queue SET updated_at = now() - interval '5 minutes' WHERE id = :i RETURNING id", i=eid)
    assert release_stuck.run()["released"] == 1
    row = event_row(db, eid)
    assert (row.status, row.retry_count) == ("failed", 1)
    # What the first worker re-checks under a row lock before applying: the claim is no longer its own.
    with db.begin() as c:
        assert c.execute(sql.LOCK_CLAIMED, {"ids": [eid], "task_id": "dead-worker"}).all() == []
    assert pipe.run([eid], "new-worker").applied == [eid]
    assert len(q(db, "SELECT 1 FROM tds_audit_trail WHERE action = 'applied'")) == 1


def test_release_stuck_ignores_rows_a_live_worker_holds_and_recent_claims(db):
    eid = add_event("products", "item", item())
    claim(eid, "live")
    assert release_stuck.run()["released"] == 0
    assert event_row(db, eid).status == "processing"


def test_a_dead_workers_claim_is_released_once_older_than_the_configured_grace(db, monkeypatch):
    from models.settings import reset_settings

    eid = add_event("products", "item", item())
    claim(eid, "dead-worker")
    q(db, "UPDATE tds_sync_queue SET updated_at = now() - interval '20 seconds' WHERE id = :i RETURNING id", i=eid)
    assert release_stuck.run()["released"] == 0  # the default grace is 60 s
    monkeypatch.setenv("SYNC_RELEASE_GRACE_SECONDS", "10")
    reset_settings()
    try:
        assert release_stuck.run()["released"] == 1
    finally:
        monkeypatch.undo()
        reset_settings()
    assert event_row(db, eid).status == "failed"


def test_a_record_that_keeps_killing_its_worker_is_dead_lettered(db):
    eid = add_event("products", "item", item(), max_retries=1)
    for n in range(2):
        q(db, "UPDATE tds_sync_queue SET next_attempt_at = NULL WHERE id = :i RETURNING id", i=eid)
        claim(eid, f"w{n}")
        q(db, "UPDATE tds_sync_queue SET updated_at = now() - interval '5 minutes' WHERE id = :i RETURNING id", i=eid)
        release_stuck.run()
    assert event_row(db, eid).status == "dead"
    assert q(db, "SELECT error_class FROM tds_dead_letter_queue")[0].error_class == "WorkerLost"


def test_enqueue_orphans_republishes_old_pending_rows_even_while_their_queue_is_busy(db, redis_client):
    from tasks.publish import publish_many

    busy = [add_event("products", "item", item(item_id=f"26466100000000007{i:02d}")) for i in range(3)]
    assert publish_many([("products", i) for i in busy]) == 3  # the queue holds other events' messages
    eid = add_event("products", "item", item())
    q(db, "UPDATE tds_sync_queue SET created_at = now() - interval '2 minutes' WHERE id = :i RETURNING id", i=eid)
    assert enqueue_orphans.run()["published"] == 1
    assert redis_client.llen("sync.products") == 4
    assert event_row(db, eid).enqueued_at is not None and event_row(db, busy[0]).enqueued_at is None
    assert enqueue_orphans.run()["published"] == 0  # not again within the window


def test_enqueue_orphans_sends_one_wake_up_per_batch_of_first_attempt_orphans(db, redis_client, monkeypatch):
    from models.settings import reset_settings

    monkeypatch.setenv("SYNC_BATCH_MAX", "4")
    reset_settings()
    try:
        ids = [add_event("products", "item", item(item_id=f"26466100000000008{i:02d}")) for i in range(10)]
        failed_before = add_event("products", "item", item(item_id="2646610000000000900"))
        q(db, "UPDATE tds_sync_queue SET retry_count = 1 WHERE id = :i RETURNING id", i=failed_before)
        q(db, "UPDATE tds_sync_queue SET created_at = now() - interval '2 minutes' + id * interval '1 ms' "
              "RETURNING id")
        out = enqueue_orphans.run()
        assert out == {"published": 4, "found": 11}  # ids 1, 5, 9 sweep four each; the retried one alone
        from tasks.sync import process_products

        for _ in range(redis_client.llen("sync.products")):
            body = json.loads(redis_client.rpop("sync.products"))
            event_id = json.loads(base64.b64decode(body["body"]))[0][0]
            process_products.apply(args=(event_id,))
    finally:
        monkeypatch.undo()
        reset_settings()
    assert {event_row(db, i).status for i in ids + [failed_before]} == {"completed"}


def test_requeue_failed_publishes_due_failed_rows_and_dead_letter_moves_exhausted_ones(db, redis_client):
    due = add_event("products", "item", item())
    exhausted = add_event("products", "item", item(item_id="2646610000000000002"))
    q(db, "UPDATE tds_sync_queue SET status = 'failed', retry_count = 1, updated_at = now() - interval '1 minute', "
          "next_attempt_at = now() - interval '1 minute' WHERE id = :i RETURNING id", i=due)
    q(db, "UPDATE tds_sync_queue SET status = 'failed', retry_count = 6 WHERE id = :i RETURNING id", i=exhausted)
    assert requeue_failed.run()["published"] == 1
    assert redis_client.llen("sync.products") == 1
    assert dead_letter_exhausted.run()["dead"] == 1
    assert event_row(db, exhausted).status == "dead"


def test_a_page_of_events_applies_in_one_batch_and_a_bad_record_does_not_sink_it(db):
    good = [add_event("products", "item", item(item_id=f"26466100000000001{i:02d}")) for i in range(5)]
    bad = add_event("products", "item", item(item_id="2646610000000000999", sku="x" * 10, rate="1e30"))
    out = pipeline_for("products").run(good + [bad], "batch-1")
    assert sorted(out.applied) == sorted(good)
    assert out.dead == [bad]
    assert len(q(db, "SELECT 1 FROM products")) == 5


# -- one transaction per event: what a death, a failure or a twin delivery leaves behind ----------

def _die_while_applying(event_id: int, task_id: str, redelivered: bool) -> int:
    """Run the pipeline in a forked child that dies (os._exit) in the middle of the upsert."""
    import os

    import tasks.pipeline as pipeline_module

    def doomed():
        def die(*_a, **_k):
            os._exit(17)

        pipeline_module.apply_records = die
        pipeline_for("products").run([event_id], task_id, redelivered=redelivered)

    return exit_code_of_forked(doomed)


def test_a_worker_dying_mid_apply_on_a_first_delivery_leaves_the_row_as_it_was(db):
    eid = add_event("products", "item", item())
    assert _die_while_applying(eid, "doomed", redelivered=False) == 17
    row = event_row(db, eid)
    assert (row.status, row.retry_count, row.celery_task_id, row.completed_at) == ("pending", 0, None, None)
    assert product(db) is None
    out = pipeline_for("products").run([eid], "next")
    assert out.applied == [eid] and event_row(db, eid).celery_task_id == "next"


def test_a_redelivered_message_commits_its_claim_first_so_a_second_death_is_counted(db):
    eid = add_event("products", "item", item(), max_retries=1)
    assert _die_while_applying(eid, "dies-again", redelivered=True) == 17
    row = event_row(db, eid)
    assert (row.status, row.celery_task_id) == ("processing", "dies-again") and row.locked_until is not None
    q(db, "UPDATE tds_sync_queue SET updated_at = now() - interval '5 minutes' WHERE id = :i RETURNING id", i=eid)
    assert release_stuck.run()["released"] == 1
    assert (event_row(db, eid).status, event_row(db, eid).retry_count) == ("failed", 1)
    # An event that failed before also takes the careful path, even on a first delivery.
    assert _die_while_applying(eid, "third", redelivered=False) == 17
    assert event_row(db, eid).status == "processing"
    q(db, "UPDATE tds_sync_queue SET updated_at = now() - interval '5 minutes' WHERE id = :i RETURNING id", i=eid)
    release_stuck.run()
    assert event_row(db, eid).status == "dead"


def test_a_redelivered_event_that_succeeds_is_applied_once_with_its_task_id(db):
    eid = add_event("products", "item", item())
    out = pipeline_for("products").run([eid], "again", redelivered=True)
    assert out.applied == [eid]
    row = event_row(db, eid)
    assert (row.status, row.celery_task_id, row.retry_count) == ("completed", "again", 0)
    assert q(db, "SELECT action, event_id FROM tds_audit_trail") == [("applied", eid)]


def test_two_deliveries_at_the_same_time_apply_once(db, monkeypatch):
    import threading
    import time

    import tasks.pipeline as pipeline_module

    eid = add_event("products", "item", item())
    real = pipeline_module.apply_records
    entered = threading.Event()

    def slow(conn, records):
        entered.set()
        time.sleep(0.5)  # the first delivery holds the row lock for a while
        return real(conn, records)

    monkeypatch.setattr(pipeline_module, "apply_records", slow)
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("a", pipeline_for("products").run([eid], "a")))
    first.start()
    assert entered.wait(10)
    results["b"] = pipeline_for("products").run([eid], "b")  # blocks on the row lock, then finds it done
    first.join(10)
    assert results["a"].applied == [eid] and results["b"].skipped == [eid] and not results["b"].applied
    assert event_row(db, eid).celery_task_id == "a"
    assert len(q(db, "SELECT 1 FROM tds_audit_trail WHERE action = 'applied'")) == 1


def test_a_transient_database_error_rolls_back_and_records_the_attempt_separately(db, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import tasks.pipeline as pipeline_module

    eid = add_event("products", "item", item())

    def boom(conn, records):
        real_apply(conn, records)  # the product row is written, then the transaction fails
        raise OperationalError("UPDATE …", {}, Exception("server closed the connection"))

    real_apply = pipeline_module.apply_records
    monkeypatch.setattr(pipeline_module, "apply_records", boom)
    out = pipeline_for("products").run([eid], "t-fail")
    assert out.retry == [eid] and 1.0 <= out.retry_in < 2.0
    row = event_row(db, eid)
    assert (row.status, row.retry_count, row.celery_task_id) == ("failed", 1, "t-fail")
    assert "database unavailable" in row.error_message and row.next_attempt_at is not None
    assert product(db) is None  # rolled back with the rest
    assert q(db, "SELECT 1 FROM tds_audit_trail") == []


def test_an_unexpected_exception_counts_as_an_attempt_instead_of_dead_lettering(db, monkeypatch):
    import tasks.pipeline as pipeline_module

    eid = add_event("products", "item", item())
    monkeypatch.setattr(pipeline_module, "apply_records", lambda conn, records: 1 / 0)
    out = pipeline_for("products").run([eid], "t-bug")
    assert out.retry == [eid] and not out.dead
    row = event_row(db, eid)
    assert (row.status, row.retry_count) == ("failed", 1) and "ZeroDivisionError" in row.error_message


def test_the_fast_path_commits_asynchronously_and_only_inside_its_own_transaction(db, monkeypatch):
    import tasks.pipeline as pipeline

    seen = []
    real = pipeline.apply_records

    def spy(conn, records):
        seen.append(conn.execute(text("SHOW synchronous_commit")).scalar())
        return real(conn, records)

    monkeypatch.setattr(pipeline, "apply_records", spy)
    eid = add_event("products", "item", item())
    assert pipeline_for("products").run([eid], "t1").applied == [eid]
    assert seen == ["off"]
    with db.connect() as c:  # SET LOCAL: nothing leaks to the pooled connection's next user
        assert c.execute(text("SHOW synchronous_commit")).scalar() == "on"


def test_a_completion_lost_in_a_database_crash_is_republished_by_the_healer_and_reapplied_once(db, redis_client):
    # What an asynchronous commit lost in a crash looks like: the row is pending again, as
    # ingested, although its message was acked (the queue is empty).
    eid = add_event("products", "item", item(name="kept"))
    assert pipeline_for("products").run([eid], "t1").applied == [eid]
    before = product(db)
    q(db, "UPDATE tds_sync_queue SET status = 'pending', result = NULL, completed_at = NULL, celery_task_id = NULL, "
          "created_at = now() - interval '2 minutes' WHERE id = :i RETURNING id", i=eid)
    q(db, "DELETE FROM tds_audit_trail WHERE event_id = :i RETURNING id", i=eid)
    assert redis_client.llen("sync.products") == 0
    assert enqueue_orphans.run()["published"] == 1
    assert redis_client.llen("sync.products") == 1
    assert pipeline_for("products").run([eid], "t2").applied == [eid]
    after = product(db)
    assert (after.id, after.name, after.unit_price) == (before.id, "kept", before.unit_price)
    assert len(q(db, "SELECT 1 FROM products")) == 1
    assert q(db, "SELECT action FROM tds_audit_trail WHERE event_id = :i", i=eid) == [("applied",)]

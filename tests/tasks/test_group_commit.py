"""Group commit on public ground: a task applies its own event and co-applies other due events of
its entity from the mirror in one transaction; each event keeps its own message, task and late ack.

The pipeline tests run against the real test database; the last ones start a real worker.
"""
from __future__ import annotations

import time

import pytest
from sqlalchemy import text

from models.settings import reset_settings
from tasks.pipeline import max_batch, pipeline_for
from tests.support.events import add_event
from tests.support.webhooks import item


def rows(db, sql, **params):
    with db.begin() as c:
        return c.execute(text(sql), params).all()


def products(n: int, start: int = 0) -> list[int]:
    return [add_event("products", "item", item(item_id=str(9_000_000 + i), name=f"p{i}"))
            for i in range(start, start + n)]


def status(db, event_id: int) -> str:
    return rows(db, "SELECT status FROM tds_sync_queue WHERE id = :i", i=event_id)[0][0]


@pytest.mark.parametrize("raw, expected", [("", 64), ("8", 8), (" 1 ", 1)])
def test_the_group_size_comes_from_sync_batch_max(monkeypatch, raw, expected):
    monkeypatch.setenv("SYNC_BATCH_MAX", raw)
    reset_settings()
    try:
        assert max_batch() == expected
    finally:
        monkeypatch.undo()
        reset_settings()


@pytest.mark.parametrize("raw", ["0", "-3", "lots", "2.5"])
def test_a_bad_sync_batch_max_is_a_clear_error(monkeypatch, raw):
    monkeypatch.setenv("SYNC_BATCH_MAX", raw)
    reset_settings()
    try:
        with pytest.raises(ValueError, match="SYNC_BATCH_MAX"):
            max_batch()
    finally:
        monkeypatch.undo()
        reset_settings()


def test_a_task_co_applies_due_events_in_one_transaction_and_their_own_messages_then_skip(db):
    ids = products(10)
    out = pipeline_for("products").run([ids[3]], "task-3", co_apply=5)
    assert sorted(out.applied) == sorted([ids[3], *ids[:3], *ids[4:6]])  # its own, then the oldest others
    assert sorted(out.co_applied) == sorted([*ids[:3], *ids[4:6]]) and out.summary()["co_applied"] == 5
    done = rows(db, "SELECT id, celery_task_id, completed_at FROM tds_sync_queue WHERE status = 'completed'")
    assert len({r.completed_at for r in done}) == 1  # one transaction
    assert {r.celery_task_id for r in done} == {"task-3"}  # the task whose transaction applied them
    again = pipeline_for("products").run([ids[0]], "task-0", co_apply=5)  # a co-applied event's own message
    assert again.skipped == [ids[0]] and not again.applied and not again.co_applied
    assert rows(db, "SELECT celery_task_id FROM tds_sync_queue WHERE id = :i", i=ids[0])[0][0] == "task-3"
    assert rows(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'applied'")[0][0] == 6


def test_co_applying_never_takes_retried_events_other_entities_or_rows_held_by_another_transaction(db):
    from models.db import get_engine

    own, failed_before, held, fresh = products(4)
    rows(db, "UPDATE tds_sync_queue SET retry_count = 1 WHERE id = :i RETURNING id", i=failed_before)
    customer = add_event("customers", "contact", {"contact_id": "460000000026049", "contact_name": "Acme",
                                                  "contact_type": "customer",
                                                  "last_modified_time": "2025-11-04T21:52:11+0300"})
    holder = get_engine().connect()
    tx = holder.begin()
    holder.execute(text("SELECT 1 FROM tds_sync_queue WHERE id = :i FOR UPDATE"), {"i": held})
    try:
        out = pipeline_for("products").run([own], "t", co_apply=63)  # does not wait for the held row
    finally:
        tx.rollback()
        holder.close()
    assert sorted(out.applied) == sorted([own, fresh])
    assert (status(db, failed_before), status(db, held), status(db, customer)) == ("pending", "pending", "pending")


def test_a_task_whose_own_event_is_held_elsewhere_skips_it_without_waiting(db):
    from models.db import get_engine

    (eid,) = products(1)
    holder = get_engine().connect()
    tx = holder.begin()
    holder.execute(text("SELECT 1 FROM tds_sync_queue WHERE id = :i FOR UPDATE"), {"i": eid})
    try:
        started = time.monotonic()
        out = pipeline_for("products").run([eid], "t", co_apply=63)
        waited = time.monotonic() - started
    finally:
        tx.rollback()
        holder.close()
    assert out.skipped == [eid] and not out.applied and waited < 5
    assert status(db, eid) == "pending"


def test_an_unmappable_co_applied_record_is_dead_lettered_alone_and_its_neighbours_land(db):
    good = products(3)
    bad = add_event("products", "itemz", item(item_id="9100000"))  # no record under its key: unmappable
    out = pipeline_for("products").run([good[0]], "t", co_apply=10)
    assert sorted(out.applied) == sorted(good) and out.dead == [bad]
    assert rows(db, "SELECT original_id FROM tds_dead_letter_queue") == [(bad,)]


def test_a_row_the_database_refuses_splits_the_group_so_only_that_event_is_dead_lettered(db):
    good = products(4)
    bad = add_event("products", "item", item(item_id="9100001", sku="x" * 10, rate="1e30"))
    out = pipeline_for("products").run([good[0]], "t", co_apply=10)
    assert sorted(out.applied) == sorted(good) and out.dead == [bad]
    assert "database refused" in rows(db, "SELECT error_message FROM tds_dead_letter_queue")[0][0]
    assert rows(db, "SELECT count(*) FROM products")[0][0] == 4


def test_a_transient_failure_charges_the_own_event_and_wakes_the_co_applied_ones_again(db, monkeypatch, redis_client):
    from sqlalchemy.exc import OperationalError

    import tasks.pipeline as pipeline_module

    own, *others = products(4)

    def boom(conn, records):
        raise OperationalError("INSERT …", {}, Exception("server closed the connection"))

    monkeypatch.setattr(pipeline_module, "apply_records", boom)
    out = pipeline_for("products").run([own], "t", co_apply=10)
    assert out.retry == [own] and not out.applied
    got = {r.id: (r.status, r.retry_count) for r in rows(db, "SELECT id, status, retry_count FROM tds_sync_queue")}
    assert got[own] == ("failed", 1)
    assert all(got[i] == ("pending", 0) for i in others)  # not an attempt of theirs
    assert redis_client.llen("sync.products") == len(others)  # woken again at once


def test_a_redelivered_message_runs_its_event_alone_with_its_claim_committed_first(db, monkeypatch):
    import tasks.pipeline as pipeline_module

    own, *others = products(3)
    seen = []
    real = pipeline_module.apply_records

    def spy(conn, records):
        seen.append(rows(db, "SELECT status, celery_task_id FROM tds_sync_queue WHERE id = :i", i=own)[0])
        return real(conn, records)

    monkeypatch.setattr(pipeline_module, "apply_records", spy)
    out = pipeline_for("products").run([own], "again", redelivered=True, co_apply=63)
    assert out.applied == [own] and not out.co_applied
    assert seen == [("processing", "again")]  # visible to everyone before the apply began
    assert {status(db, i) for i in others} == {"pending"}


def test_a_page_with_an_event_that_failed_before_runs_that_one_alone(db, monkeypatch):
    import tasks.pipeline as pipeline_module

    page = products(4)
    rows(db, "UPDATE tds_sync_queue SET retry_count = 1, status = 'failed' WHERE id = :i RETURNING id", i=page[2])
    groups = []
    real = pipeline_module.apply_records

    def spy(conn, records):
        groups.append(len(records))
        return real(conn, records)

    monkeypatch.setattr(pipeline_module, "apply_records", spy)
    out = pipeline_for("products").run(page, "page")
    assert sorted(out.applied) == sorted(page)
    assert sorted(groups) == [1, 3]


# -- a real worker ------------------------------------------------------------------------------------------

def _send(ids: list[int]) -> list[str]:
    """Publish `sync.products.process(id)` for each id; returns the messages' task ids."""
    from tasks import app

    with app.producer_or_acquire() as producer:
        return [app.send_task("sync.products.process", args=[i], queue="sync.products", routing_key="sync.products",
                              producer=producer).id for i in ids]


@pytest.mark.e2e
def test_a_worker_applies_a_backlog_in_groups_and_every_message_is_its_own_acked_task_in_flower(db, redis_client):
    import threading

    from tasks import app
    from tests.support.procs import child_env, start_worker, wait_for

    seen: dict[str, set] = {"task-received": set(), "task-started": set(), "task-succeeded": set()}
    listening = threading.Event()
    stop = threading.Event()

    def listen():  # what Flower sees: the worker's task events
        with app.connection_for_read() as conn:
            recv = app.events.Receiver(conn, handlers={
                "*": lambda e: seen[e["type"]].add(e["uuid"]) if e["type"] in seen else None})
            listening.set()
            while not stop.is_set():
                try:
                    recv.capture(limit=None, timeout=0.5, wakeup=False)
                except TimeoutError:
                    continue

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    assert listening.wait(10)
    time.sleep(0.5)
    ids = products(300)
    task_ids = _send(ids)
    worker = start_worker(child_env(), "groups", concurrency=2)
    try:
        wait_for(lambda: rows(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed'")[0][0] == 300,
                 timeout=60, message="300 events completed")
        wait_for(lambda: redis_client.hlen("unacked") == 0 and redis_client.llen("sync.products") == 0,
                 timeout=30, message="every message acknowledged")
        wait_for(lambda: len(seen["task-succeeded"]) >= 300, timeout=20, message="300 task-succeeded events")
        transactions = rows(db, "SELECT count(DISTINCT completed_at) FROM tds_sync_queue")[0][0]
        appliers = {r[0] for r in rows(db, "SELECT celery_task_id FROM tds_sync_queue")}
    finally:
        stop.set()
        worker.stop()
    assert transactions < 300  # events shared transactions
    assert appliers <= set(task_ids)  # each row names the task (a real message) that applied it
    assert seen["task-succeeded"] == seen["task-started"] == seen["task-received"] == set(task_ids)
    assert rows(db, "SELECT count(*) FROM products")[0][0] == 300
    assert rows(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'applied'")[0][0] == 300


@pytest.mark.e2e
def test_a_lost_message_is_applied_within_two_minutes_while_its_queue_stays_busy(db, redis_client):
    """Issue 16.4: the event's message is gone (purged), other events keep arriving."""
    from tasks.heal import enqueue_orphans
    from tests.support.procs import child_env, start_worker, wait_for

    lost = add_event("products", "item", item(item_id="9200000", name="lost message"))  # never published
    worker = start_worker(child_env(), "busy", concurrency=2)
    started = time.monotonic()
    n = 0
    try:
        while status(db, lost) != "completed":
            assert time.monotonic() - started < 120, "the lost event was not applied within 2 minutes"
            batch = products(20, start=1000 + n)
            n += 20
            _send(batch)
            enqueue_orphans.run()  # what beat runs every 15 s; here on every round
            time.sleep(0.5)
        wait_for(lambda: rows(db, "SELECT count(*) FROM tds_sync_queue WHERE status <> 'completed'")[0][0] == 0,
                 timeout=60, message="the busy stream drained")
    finally:
        worker.stop()
    assert rows(db, "SELECT name FROM products WHERE zoho_item_id = '9200000'") == [("lost message",)]
    assert rows(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'applied' AND event_id = :i",
                i=lost)[0][0] == 1


def test_a_co_applied_events_own_message_in_the_same_process_skips_without_a_database_read(db):
    from sqlalchemy import event

    from models.db import get_autocommit_engine, get_engine

    ids = products(3)
    pipeline_for("products").run([ids[0]], "task-0", co_apply=2)
    statements: list[str] = []

    def count(conn, cursor, statement, *_):
        statements.append(statement)

    for engine in (get_engine(), get_autocommit_engine()):
        event.listen(engine, "before_cursor_execute", count)
    try:
        again = pipeline_for("products").run([ids[1]], "task-1", co_apply=2)
    finally:
        for engine in (get_engine(), get_autocommit_engine()):
            event.remove(engine, "before_cursor_execute", count)
    assert again.skipped == [ids[1]] and not again.applied and statements == []
    # answered once: a second delivery of that message (re-delivered) asks the database again
    pipeline_for("products").run([ids[1]], "task-1b", co_apply=2)
    assert status(db, ids[1]) == "completed"
    assert rows(db, "SELECT celery_task_id FROM tds_sync_queue WHERE id = :i", i=ids[1])[0][0] == "task-0"


def test_the_co_applied_memo_forgets_an_id_once_answered_and_the_oldest_past_its_size():
    from tasks.pipeline import CoAppliedMemo

    memo = CoAppliedMemo(size=3)
    memo.remember([1, 2, 3, 4])
    assert memo.take([1, 2, 5]) == {2}  # 1 was the oldest past the size; 5 never co-applied here
    assert memo.take([2]) == set()  # each message asks once
    assert memo.take([3, 4]) == {3, 4}

"""Micro-batching of `sync.<entity>.process` messages: dispatch logic, the pool job, a real worker.

The dispatch tests drive `Batcher` with kombu's real slot semaphore and recorded requests
(pure logic); `run_batch` runs against the real test database and Redis; the last test
starts a real worker on a backlog of separate messages.
"""
from __future__ import annotations

import json
import re
import time
from collections import Counter

import pytest
from kombu.asynchronous.semaphore import LaxBoundedSemaphore
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from models.settings import reset_settings
from tasks import batching
from tasks.batching import Batcher, max_batch, run_batch
from tests.support.events import add_event
from tests.support.webhooks import item


# -- dispatch (pure logic) ---------------------------------------------------------------------

class FakeRequest:
    def __init__(self, rid, args=(1,), kwargs=None, redelivered=False, revoked=False, retries=0):
        self.id = rid
        self.args = list(args)
        self.kwargs = kwargs or {}
        self.delivery_info = {"redelivered": redelivered}
        self.request_dict = {"retries": retries}
        self._revoked = revoked
        self.calls: list = []
        self.acknowledged = False

    def revoked(self):
        return self._revoked

    def on_accepted(self, pid, t):
        self.calls.append(("accepted", pid))

    def on_success(self, result):
        self.calls.append(("success", result))

    def on_failure(self, exc_info):
        self.calls.append(("failure", exc_info))

    def on_timeout(self, soft, timeout):
        self.calls.append(("timeout", soft))

    def acknowledge(self):
        self.acknowledged = True

    def send_event(self, kind, **fields):
        self.calls.append((kind, fields))


class FakePool:
    """Records jobs; `finish(i)` plays the pool's side: the result callback, then the slot freed."""

    def __init__(self, semaphore, accept=True):
        self.semaphore = semaphore
        self.jobs: list[dict] = []
        self.accept = accept

    def apply_async(self, fn, args, **kw):
        if not self.accept:
            return None
        self.jobs.append({"fn": fn, "args": args, **kw})
        return object()

    def finish(self, i, results=None):
        job = self.jobs[i]
        entity, items = job["args"]
        job["callback"](results or [("done", {"applied": 1}, 0.01) for _ in items])
        self.semaphore.release()


class FakeTask:
    name = "sync.products.process"
    soft_time_limit = 240
    time_limit = 300


def make_batcher(slots=2, limit=64, accept=True):
    sem = LaxBoundedSemaphore(slots)
    pool = FakePool(sem, accept)
    singles: list = []
    return Batcher(FakeTask(), pool, sem, singles.append, limit), pool, singles, sem


def event_ids(job) -> list[int]:
    return [event_id for _, event_id, _ in job["args"][1]]


def test_a_message_is_dispatched_at_once_while_a_slot_is_free_and_messages_gather_while_none_is():
    b, pool, singles, _ = make_batcher(slots=2)
    for n in range(1, 6):
        b.handle(FakeRequest(f"t{n}", args=(n,)))
    assert [event_ids(j) for j in pool.jobs] == [[1], [2]]  # no waiting for company while idle
    pool.finish(0)
    assert [event_ids(j) for j in pool.jobs] == [[1], [2], [3, 4, 5]]
    assert pool.jobs[2]["fn"] is run_batch and pool.jobs[2]["args"][0] == "products"
    assert [tid for tid, _, _ in pool.jobs[2]["args"][1]] == ["t3", "t4", "t5"]
    assert not singles


def test_a_batch_never_exceeds_the_limit_and_the_rest_waits_for_the_next_slot():
    b, pool, _, _ = make_batcher(slots=1, limit=2)
    for n in range(1, 7):
        b.handle(FakeRequest(f"t{n}", args=(n,)))
    pool.finish(0)
    pool.finish(1)
    pool.finish(2)
    assert [event_ids(j) for j in pool.jobs] == [[1], [2, 3], [4, 5], [6]]


@pytest.mark.parametrize("req", [
    FakeRequest("redelivered", redelivered=True),
    FakeRequest("kwargs", args=(), kwargs={"event_id": 1}),
    FakeRequest("two-args", args=(1, 2)),
    FakeRequest("not-a-number", args=("abc",)),
    FakeRequest("a-bool", args=(True,)),
], ids=lambda r: r.id)
def test_redelivered_and_unusual_calls_take_the_single_task_path(req):
    b, pool, singles, _ = make_batcher()
    b.handle(req)
    assert singles == [req] and not pool.jobs


def test_a_numeric_string_id_is_batched_as_the_task_would_read_it():
    b, pool, singles, _ = make_batcher()
    b.handle(FakeRequest("s", args=("42",)))
    assert event_ids(pool.jobs[0]) == [42] and not singles


def test_a_limit_of_one_turns_batching_off():
    b, pool, singles, _ = make_batcher(limit=1)
    b.handle(FakeRequest("t1"))
    assert len(singles) == 1 and not pool.jobs


def test_revoked_requests_are_left_out_and_a_slot_with_nothing_to_do_is_given_back():
    b, pool, _, sem = make_batcher(slots=1)
    b.handle(FakeRequest("t1", args=(1,)))
    b.handle(FakeRequest("gone", args=(2,), revoked=True))
    b.handle(FakeRequest("t3", args=(3,)))
    pool.finish(0)
    assert [event_ids(j) for j in pool.jobs] == [[1], [3]]
    b2, pool2, _, sem2 = make_batcher(slots=1)
    b2.handle(FakeRequest("busy", args=(1,)))
    b2.handle(FakeRequest("gone", args=(2,), revoked=True))
    pool2.finish(0)
    assert len(pool2.jobs) == 1 and sem2.value == 1  # the slot is free again, not leaked


def test_a_stopping_pool_gives_the_slot_back_and_leaves_the_messages_unacked():
    b, pool, _, sem = make_batcher(slots=1, accept=False)
    req = FakeRequest("t1")
    b.handle(req)
    assert sem.value == 1 and not req.acknowledged and req.calls == []


def test_each_request_gets_its_own_outcome_accepted_success_retry_and_failure():
    b, pool, _, _ = make_batcher(slots=1)
    first = FakeRequest("t1", args=(1,))
    b.handle(first)
    waiting = [FakeRequest("t2", args=(2,)), FakeRequest("t3", args=(3,))]
    for r in waiting:
        b.handle(r)
    pool.jobs[0]["accept_callback"](1234, time.monotonic())
    pool.finish(0)
    assert first.calls[0] == ("accepted", 1234) and first.calls[1][0] == "success"
    pool.jobs[1]["accept_callback"](99, time.monotonic())
    pool.finish(1, [("done", {"applied": 1, "batch": 2}, 0.5), ("retry", "TransientError: db", 0.5)])
    done, retried = waiting
    assert done.calls[-1] == ("success", (False, "{'applied': 1, 'batch': 2}", 0.5))
    assert retried.acknowledged and retried.calls[-1] == ("task-retried", {"exception": "TransientError: db",
                                                                             "traceback": ""})


def test_a_failed_job_reports_the_failure_on_every_request_of_the_batch():
    b, pool, _, _ = make_batcher(slots=1)
    b.handle(FakeRequest("t0", args=(0,)))
    batch = [FakeRequest(f"t{n}", args=(n,)) for n in (1, 2, 3)]
    for r in batch:
        b.handle(r)
    pool.finish(0)
    err = object()
    pool.jobs[1]["error_callback"](err)
    pool.jobs[1]["timeout_callback"](True, 240)
    assert all(r.calls[0] == ("failure", err) and r.calls[1] == ("timeout", True) for r in batch)


@pytest.mark.parametrize("raw, expected", [("", 64), ("8", 8), (" 1 ", 1)])
def test_the_batch_limit_comes_from_sync_batch_max(monkeypatch, raw, expected):
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


# -- the pool job, against real PostgreSQL and Redis -------------------------------------------------

def rows(db, sql, **params):
    with db.begin() as c:
        return c.execute(text(sql), params).all()


def products(n: int) -> list[int]:
    return [add_event("products", "item", item(item_id=str(9_000_000 + i), name=f"p{i}")) for i in range(n)]


def test_a_batch_is_one_transaction_and_every_event_keeps_its_own_task_id(db):
    ids = products(5)
    results = run_batch("products", [(f"task-{i}", i, 0) for i in ids])
    assert [kind for kind, _, _ in results] == ["done"] * 5
    assert all(summary["applied"] == 1 and summary["batch"] == 5 for _, summary, _ in results)
    got = rows(db, "SELECT id, status, celery_task_id, completed_at FROM tds_sync_queue ORDER BY id")
    assert [(r.status, r.celery_task_id) for r in got] == [("completed", f"task-{i}") for i in ids]
    assert len({r.completed_at for r in got}) == 1  # now() is the transaction's start: one transaction
    assert rows(db, "SELECT count(*) FROM products")[0][0] == 5
    assert rows(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'applied'")[0][0] == 5


def test_the_same_event_twice_in_a_batch_is_applied_once_and_the_second_message_skips(db):
    (eid,) = products(1)
    results = run_batch("products", [("first", eid, 0), ("second", eid, 0)])
    assert results[0][1]["applied"] == 1 and results[1][1]["skipped"] == 1
    assert rows(db, "SELECT celery_task_id FROM tds_sync_queue")[0][0] == "first"
    assert rows(db, "SELECT count(*) FROM tds_audit_trail")[0][0] == 1


def test_one_unmappable_record_is_dead_lettered_alone_and_its_neighbours_land(db):
    good = products(2)
    bad = add_event("products", "itemz", item(item_id="123"))  # no record under "item": unmappable
    results = run_batch("products", [("g1", good[0], 0), ("b", bad, 0), ("g2", good[1], 0)])
    assert [r[1]["applied"] for r in results] == [1, 0, 1] and results[1][1]["dead"] == 1
    status = dict(rows(db, "SELECT id, status FROM tds_sync_queue"))
    assert status == {good[0]: "completed", bad: "dead", good[1]: "completed"}
    assert rows(db, "SELECT original_id FROM tds_dead_letter_queue") == [(bad,)]


def test_an_event_that_failed_before_runs_alone_under_its_own_task_and_the_rest_stay_one_batch(db):
    fresh = products(3)
    failed = add_event("products", "item", item(item_id="777", name="retried"))
    rows(db, "UPDATE tds_sync_queue SET status = 'failed', retry_count = 1 WHERE id = :i RETURNING id", i=failed)
    run_batch("products", [("f1", fresh[0], 0), ("again", failed, 1), ("f2", fresh[1], 0), ("f3", fresh[2], 0)])
    got = {r.id: r for r in rows(db, "SELECT id, status, celery_task_id, completed_at FROM tds_sync_queue")}
    assert all(r.status == "completed" for r in got.values())
    assert got[failed].celery_task_id == "again"
    assert len({got[i].completed_at for i in fresh}) == 1
    assert got[failed].completed_at != got[fresh[0]].completed_at


def test_a_transient_failure_publishes_each_retry_under_its_own_task_id_with_the_next_retry_count(
        db, redis_client, monkeypatch):
    ids = products(2)

    def database_down(*_a, **_k):
        raise OperationalError("INSERT", {}, Exception("server closed the connection unexpectedly"))

    monkeypatch.setattr("tasks.pipeline.apply_records", database_down)
    results = run_batch("products", [("r1", ids[0], 0), ("r2", ids[1], 3)])
    assert [kind for kind, _, _ in results] == ["retry", "retry"]
    assert "database unavailable" in results[0][1]
    assert {r.status for r in rows(db, "SELECT status FROM tds_sync_queue")} == {"failed"}
    queued = [json.loads(m) for m in redis_client.lrange("sync.products", 0, -1)]
    sent = {m["headers"]["id"]: (m["headers"]["retries"], m["headers"]["eta"] is not None) for m in queued}
    assert sent == {"r1": (1, True), "r2": (4, True)}


def test_a_retry_that_cannot_be_published_is_parked_in_the_mirror_and_reported_done(db, monkeypatch):
    (eid,) = products(1)
    monkeypatch.setattr("tasks.pipeline.apply_records", lambda *a, **k: (_ for _ in ()).throw(
        OperationalError("INSERT", {}, Exception("connection refused"))))

    def broker_down(*_a, **_k):
        raise ConnectionError("redis down")

    from tasks import app
    monkeypatch.setattr(app.tasks["sync.products.process"], "apply_async", broker_down)
    ((kind, summary, _),) = run_batch("products", [("p1", eid, 0)])
    assert kind == "done" and summary["retry"] == 1
    row = rows(db, "SELECT status, next_attempt_at FROM tds_sync_queue")[0]
    assert row.status == "failed" and row.next_attempt_at is not None  # heal.requeue_failed will send it


# -- a real worker ------------------------------------------------------------------------------------------

@pytest.mark.e2e
def test_a_worker_applies_a_backlog_of_separate_messages_in_batches_and_acks_each_one(db, redis_client):
    import threading

    from tasks import app
    from tasks.publish import publish_many
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
    assert publish_many([("products", i) for i in ids]) == 300
    worker = start_worker(child_env(), "batching", concurrency=2)
    try:
        wait_for(lambda: rows(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed'")[0][0] == 300,
                 timeout=60, message="300 events completed")
        transactions = rows(db, "SELECT count(DISTINCT completed_at) FROM tds_sync_queue")[0][0]
        task_ids = [r[0] for r in rows(db, "SELECT celery_task_id FROM tds_sync_queue")]
        stats = wait_for(lambda: (app.control.inspect(destination=[f"batching@{_host()}"], timeout=2).stats() or {}),
                         timeout=20, message="worker stats")
        total = next(iter(stats.values()))["total"].get("sync.products.process")
        unacked = wait_for(lambda: redis_client.hlen("unacked") == 0 and redis_client.llen("sync.products") == 0,
                           timeout=10, message="every message acknowledged")
        wait_for(lambda: len(seen["task-succeeded"]) >= 300, timeout=10, message="300 task-succeeded events")
    finally:
        stop.set()
        worker.stop()
    assert transactions < 300  # some messages shared a transaction
    assert len(set(task_ids)) == 300 and None not in task_ids  # each event keeps its own message's task id
    assert total == 300 and unacked
    assert seen["task-succeeded"] == seen["task-started"] == seen["task-received"] == set(task_ids)  # Flower sees each
    assert rows(db, "SELECT count(*) FROM products")[0][0] == 300


def _host() -> str:
    import socket

    return socket.gethostname()


def test_the_batching_strategy_is_the_process_tasks_own():
    from tasks import app

    assert app.tasks["sync.products.process"].Strategy == "tasks.batching:strategy"
    assert app.tasks["sync.products.process_batch"].Strategy != "tasks.batching:strategy"
    assert batching.OUTCOMES == ("applied", "stale", "skipped", "dead", "retry")


@pytest.mark.e2e
def test_a_batch_whose_pool_process_dies_comes_back_message_by_message_and_each_event_lands_once(
        db, redis_client, database_url):
    """Kill the pool processes while their batch waits on an ERP row lock held by this test."""
    import os
    import signal

    from models.db import get_engine
    from tasks.pipeline import pipeline_for
    from tasks.publish import publish_many
    from tests.support.procs import child_env, start_worker, wait_for

    zids = [str(8_000_000 + i) for i in range(10)]
    seeded = [add_event("products", "item", item(item_id=z, lmt="2025-11-01T10:00:00+0300")) for z in zids]
    assert pipeline_for("products").run(seeded, "seed").applied == seeded
    ids = [add_event("products", "item", item(item_id=z, name="after the crash")) for z in zids]

    def waiting_on_lock() -> int:
        return rows(db, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                        "AND datname = current_database()")[0][0]

    def pool_children(pid: int) -> list[int]:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(p) for p in f.read().split()]

    holder = get_engine().connect()
    tx = holder.begin()
    holder.execute(text("SELECT 1 FROM products WHERE zoho_item_id = ANY(:z) FOR UPDATE"), {"z": zids})
    publish_many([("products", i) for i in ids])
    worker = start_worker(child_env(), "batch-crash", concurrency=2)
    kills = 0
    try:
        # The first two messages go to the pool alone; the rest gather into a batch behind them.
        # Kill whatever holds the locks until a job that held several messages has died.
        for _ in range(5):
            wait_for(lambda: waiting_on_lock() >= 1, timeout=30, message="a pool job blocked on the row lock")
            time.sleep(0.3)
            for child in pool_children(worker.popen.pid):
                os.kill(child, signal.SIGKILL)
                kills += 1
            time.sleep(1.0)
            if max(Counter(re.findall(r"WorkerLostError\('Worker exited prematurely: [^']*Job: (\d+)",
                                      worker.output())).values(), default=0) > 1:
                break
        tx.rollback()
        holder.close()
        wait_for(lambda: rows(db, "SELECT count(*) FROM tds_sync_queue WHERE id = ANY(:i) AND status = 'completed'",
                              i=ids)[0][0] == 10, timeout=60, message="all ten events completed")
        log = worker.output()
    finally:
        if not holder.closed:
            tx.rollback()
            holder.close()
        worker.stop()
    got = rows(db, "SELECT status, retry_count, completed_at FROM tds_sync_queue WHERE id = ANY(:i)", i=ids)
    per_job = Counter(re.findall(r"WorkerLostError\('Worker exited prematurely: [^']*Job: (\d+)", log))
    assert kills >= 2 and max(per_job.values()) > 1  # a job holding several messages died: each was re-queued
    assert {r.status for r in got} == {"completed"} and not rows(db, "SELECT 1 FROM tds_dead_letter_queue")
    assert {r.retry_count for r in got} == {0}  # a rolled-back batch is not an attempt held against its events
    assert rows(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'applied' AND event_id = ANY(:i)",
                i=ids)[0][0] == 10
    assert {r[0] for r in rows(db, "SELECT name FROM products WHERE zoho_item_id = ANY(:z)", z=zids)} == {
        "after the crash"}


class HeldRequest:
    """A request around a real kombu message, as Celery's `Request` holds it."""

    def __init__(self, message):
        self._message = message
        self.acknowledged = False


def received_messages(n: int, queue_name: str = "zohosync-test-acks"):
    from kombu import Connection, Consumer, Queue

    from tests.conftest import TEST_BROKER_URL

    conn = Connection(TEST_BROKER_URL)
    channel = conn.channel()
    queue = Queue(queue_name, routing_key=queue_name)
    producer = conn.Producer(channel)
    for i in range(n):
        producer.publish({"n": i}, routing_key=queue_name, declare=[queue])
    got = []
    consumer = Consumer(channel, [queue], callbacks=[lambda body, message: got.append(message)], no_ack=False)
    consumer.qos(prefetch_count=n)
    consumer.consume()
    while len(got) < n:
        conn.drain_events(timeout=5)
    return conn, got


def test_a_batch_of_messages_is_acknowledged_in_one_go_and_redis_forgets_every_one(redis_client):
    from tasks.batching import ack_together

    conn, messages = received_messages(3)
    try:
        assert redis_client.hlen("unacked") == 3
        requests = [HeldRequest(m) for m in messages]
        ack_together(requests)
        assert all(r.acknowledged and m.acknowledged for r, m in zip(requests, messages))
        assert redis_client.hlen("unacked") == 0 and redis_client.zcard("unacked_index") == 0
        assert not messages[0].channel.qos._delivered or all(
            m.delivery_tag in messages[0].channel.qos._dirty for m in messages)
    finally:
        conn.release()


def test_a_lone_or_already_settled_message_is_left_to_ack_itself(redis_client):
    from tasks.batching import ack_together

    conn, messages = received_messages(2)
    try:
        lone = [HeldRequest(messages[0])]
        ack_together(lone)
        assert not lone[0].acknowledged and redis_client.hlen("unacked") == 2
        messages[1].ack()
        pair = [HeldRequest(m) for m in messages]
        ack_together(pair)  # one of them is settled already: no shortcut, each acks on its own
        assert not pair[0].acknowledged and redis_client.hlen("unacked") == 1
    finally:
        conn.release()

"""Pull slots: a worker serving every queue never gives all its slots to pulls; deferred pulls still run."""
from __future__ import annotations

import pytest

from tasks.slots import PullSlotAnnotation, is_pull, limit_for
from tests.support.procs import Process, child_env, wait_for, wait_worker_ready, worker_argv


def test_a_worker_serving_pulls_and_other_queues_keeps_one_slot_free_and_a_pull_only_worker_has_no_limit():
    everything = {"maintenance", "bulk", "sync.products"}
    assert limit_for(4, everything) == 3
    assert limit_for(2, everything) == 1
    assert limit_for(1, everything) == 1  # one slot cannot be split: documented
    assert limit_for(4, {"bulk"}) is None
    assert limit_for(4, {"maintenance", "sync.products"}) is None


def test_only_pull_tasks_are_annotated():
    class T:
        def __init__(self, name):
            self.name = name

    annotate = PullSlotAnnotation().annotate
    assert set(annotate(T("bulk.pull"))) == {"before_start"} and annotate(T("images.sync_products"))
    assert annotate(T("reconcile.entity")) and annotate(T("sync.products.process")) is None
    assert annotate(T("heal.enqueue_orphans")) is None and not is_pull(None)


@pytest.mark.e2e
def test_pulls_never_hold_every_slot_of_a_worker_without_q_and_none_is_lost(db, redis_client):
    from tasks import app
    from tests.support.slow_pulls import EVENTS

    proc = wait_worker_ready(Process("worker-slots", worker_argv("tests.support.slow_pulls", "slots", 2), child_env()))
    try:
        for n in range(4):
            app.send_task("bulk.test_sleep", args=[n, 1.0], queue="bulk", routing_key="bulk")
        wait_for(lambda: redis_client.llen(EVENTS) >= 1, timeout=10, message="a pull started")
        app.send_task("maintenance.test_mark", args=[0], queue="maintenance", routing_key="maintenance")
        wait_for(lambda: sum(1 for e in redis_client.lrange(EVENTS, 0, -1) if e.startswith(b"end")) == 4,
                 timeout=45, message="every pull ran")
    finally:
        proc.stop()
    events = [e.decode().split() for e in redis_client.lrange(EVENTS, 0, -1)]
    running, most = 0, 0
    for kind, _, _ in events:
        running += {"start": 1, "end": -1}.get(kind, 0)
        most = max(most, running)
    assert most == 1, events  # two slots, at most one pull at a time
    starts = sorted(int(n) for kind, n, _ in events if kind == "start")
    assert starts == [0, 1, 2, 3], "each pull ran exactly once"
    marks = [i for i, (kind, _, _) in enumerate(events) if kind == "mark"]
    last_start = max(i for i, (kind, _, _) in enumerate(events) if kind == "start")
    assert marks and marks[0] < last_start, "the other queue was served while pulls waited"
    assert "pull deferred" in proc.output()

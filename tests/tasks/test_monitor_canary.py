"""Canaries with a real Celery worker: "workers healthy" means each queue really consumes, not just that a ping answers."""
from __future__ import annotations

import time

import pytest

from tasks.health import CANARY_DONE, CANARY_SENT, canary_queues, health_report
from tasks.monitor import take_snapshot
from tests.support.procs import child_env, start_worker, wait_for
from tests.tasks.test_health import seed


@pytest.fixture(scope="module")
def worker(database_url):
    proc = start_worker(child_env(), "canary", concurrency=1)
    yield proc
    proc.stop()


def workers_check() -> dict:
    return health_report(zoho=False)["checks"]["workers"]


def test_a_snapshot_sends_a_canary_through_every_queue_and_the_worker_brings_each_back(db, redis_client, worker):
    report = take_snapshot(zoho=False)
    assert set(report["canaries_sent"]) == set(canary_queues())
    wait_for(lambda: redis_client.hlen(CANARY_SENT) == 0, timeout=20, message="every canary consumed")
    assert {k.decode() for k in redis_client.hkeys(CANARY_DONE)} == set(canary_queues())
    check = workers_check()
    assert check["verdict"] == "healthy" and check["value"] == 1
    # One canary per queue in flight: the next snapshot sends again only because the last came back.
    assert set(take_snapshot(zoho=False)["canaries_sent"]) == set(canary_queues())


def test_a_worker_that_answers_pings_but_consumes_nothing_is_critical(db, redis_client, worker):
    assert workers_check()["verdict"] == "healthy"
    # What a stranded consumer looks like: a canary sent five minutes ago that never came back.
    redis_client.hset(CANARY_SENT, "sync.products", repr(time.time() - 300))
    check = workers_check()
    assert check["verdict"] == "critical"
    assert "sync.products" in check["message"] and check["value"] == 1

    # Behind a backlog but moving: an event of that entity completed since the canary left.
    seed(db, 1, "completed", "products", age_minutes=0)
    assert workers_check()["verdict"] == "healthy"

"""Three named workers on one broker, one SIGKILLed mid-run: every accepted event is applied exactly once.

Runs on Redis and on RabbitMQ (a vhost per run). Beat runs too (healing), with its state in
the coordination Redis. The killed worker held messages (prefetch) and events in progress;
the broker's redelivery and the healer must bring each of them back, and the per-record
claim must keep a redelivered event from being applied twice.
"""
from __future__ import annotations

import json
import os
import threading
import time

import pytest

from tests.conftest import TEST_BROKER_URL
from tests.support.brokers import BROKERS, broker_url
from tests.support.load import HEALER_ENV, Zoho, outcome, product_versions, states, unfinished
from tests.support.procs import (
    BIN,
    ROOT,
    Process,
    child_env,
    free_port,
    start_receiver,
    start_workers,
    stop_all,
    wait_for,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]

# 450 webhooks at 75/s: 6 s of load, node2 SIGKILLed at 3 s with messages prefetched and events in progress.
PRODUCTS = int(os.environ.get("MULTINODE_PRODUCTS", "150"))
VERSIONS = 3
RATE = float(os.environ.get("MULTINODE_RATE", "75"))
CONVERGE_SECONDS = 150


@pytest.mark.parametrize("broker", BROKERS)
def test_three_workers_one_killed_mid_run_apply_every_event_exactly_once(broker, db, redis_client):
    with broker_url(broker, TEST_BROKER_URL) as url:
        env = child_env(CELERY_BROKER_URL=url, REDIS_URL=TEST_BROKER_URL, **HEALER_ENV)
        port = free_port()
        started = []  # the receiver boots while the workers do
        try:
            workers = start_workers(env, ("node1", "node2", "node3"),
                                    meanwhile=lambda: started.append(start_receiver(env, port)))
        except BaseException:
            stop_all(started)
            raise
        (web,) = started
        beat = Process("beat-multinode", [str(BIN / "celery"), "-A", "tasks", "beat", "-l", "info"], env)
        zoho = Zoho(f"http://127.0.0.1:{port}/api/zoho/webhooks/products")
        bodies = product_versions(PRODUCTS, VERSIONS, seed=16)
        killed_at: list[float] = []

        def kill_one():
            time.sleep(3)
            workers["node2"].kill()
            killed_at.append(time.monotonic())

        killer = threading.Thread(target=kill_one)
        killer.start()
        try:
            zoho.send_all(bodies, RATE)
            killer.join()
            try:
                wait_for(lambda: unfinished(db) == 0, timeout=CONVERGE_SECONDS, interval=0.25,
                         message="every event completed")
            except AssertionError:
                raise AssertionError(f"{broker}: not converged; states={states(db)}\n--- node1 ---\n"
                                     f"{workers['node1'].output()[-3000:]}\n--- beat ---\n{beat.output()[-2000:]}"
                                     ) from None
            converged = time.monotonic() - killed_at[0]
            result = outcome(db, zoho)
            served = {name: w.output().count('"event processed') for name, w in workers.items()}
        finally:
            stop_all([beat, *workers.values(), web])

    report = {"broker": broker, "accepted": len(zoho.accepted), "lost": len(result["lost"]),
              "applied_twice": len(result["twice"]), "converged_seconds_after_kill": round(converged, 1),
              "events_processed_per_node": served}
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / f"multinode-report-{broker}.json").write_text(json.dumps(report, indent=2))
    print("multinode report:", json.dumps(report))
    assert served["node1"] and served["node3"], served  # the survivors shared the work
    assert len(zoho.accepted) + zoho.duplicates == len(bodies)
    assert result["lost"] == [] and result["twice"] == []
    assert len(result["rows"]) == PRODUCTS
    for zid, row in result["rows"].items():
        assert row.name == f"product {int(zid[-8:])} v{VERSIONS - 1}", zid

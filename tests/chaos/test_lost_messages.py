"""A purged queue costs latency, never data: how long until an event whose message was lost is applied.

The receiver records 50 events and publishes their messages; the broker's queue is then
purged (kombu's public `queue_purge`, on Redis and RabbitMQ alike) before any worker runs.
With a worker and beat started on the production defaults, every event must be applied,
once, within two minutes of the loss (issue 16); the figure is printed and kept in
`artifacts/lost-messages-<broker>.json`.
"""
from __future__ import annotations

import json
import time

import pytest
from kombu import Connection

from tests.conftest import TEST_BROKER_URL
from tests.support.brokers import BROKERS, broker_url
from tests.support.load import Zoho, outcome, product_versions, unfinished
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

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

EVENTS = 50
WITHIN_SECONDS = 120


@pytest.mark.parametrize("broker", BROKERS)
def test_events_whose_messages_were_purged_are_applied_within_two_minutes(broker, db, redis_client):
    with broker_url(broker, TEST_BROKER_URL) as url:
        env = child_env(CELERY_BROKER_URL=url, REDIS_URL=TEST_BROKER_URL)
        port = free_port()
        web = start_receiver(env, port)
        procs = [web]
        try:
            zoho = Zoho(f"http://127.0.0.1:{port}/api/zoho/webhooks/products")
            zoho.send_all(product_versions(EVENTS, 1, seed=4), rate=100)
            with Connection(url) as conn:
                purged = conn.default_channel.queue_purge("sync.products")
            lost_at = time.monotonic()
            assert purged == EVENTS, purged
            # beat starts beside the worker (its schedule's clock starts with it), not after it
            procs.append(Process("beat-lost", [str(BIN / "celery"), "-A", "tasks", "beat", "-l", "info"], env))
            procs.extend(start_workers(env, ["lost"]).values())
            wait_for(lambda: unfinished(db) == 0, timeout=WITHIN_SECONDS + 30, interval=0.25,
                     message="every purged event applied")
            took = time.monotonic() - lost_at
            result = outcome(db, zoho)
        finally:
            stop_all(procs)
    report = {"broker": broker, "events": EVENTS, "purged": purged, "applied_seconds_after_loss": round(took, 1),
              "lost": len(result["lost"]), "applied_twice": len(result["twice"])}
    (ROOT / "artifacts").mkdir(exist_ok=True)
    (ROOT / "artifacts" / f"lost-messages-{broker}.json").write_text(json.dumps(report, indent=2))
    print("lost messages report:", json.dumps(report))
    assert result["lost"] == [] and result["twice"] == []
    assert took <= WITHIN_SECONDS

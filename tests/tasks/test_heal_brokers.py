"""The healer on RabbitMQ: nothing in it reads a transport's internals, so an orphan is woken there too.

Needs the RabbitMQ of the development and CI machines (127.0.0.1:5672, guest/guest); a vhost of
its own is made with `rabbitmqctl` (skipped where neither is available).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.support.brokers import rabbit_vhost
from tests.support.events import add_event
from tests.support.procs import ROOT
from tests.support.webhooks import item


@pytest.fixture
def rabbitmq_vhost():
    with rabbit_vhost("zohosync_heal") as url:
        yield url


def test_enqueue_orphans_wakes_a_lost_event_on_rabbitmq(db, rabbitmq_vhost):
    from kombu import Connection

    eid = add_event("products", "item", item())
    with db.begin() as c:
        c.execute(text("UPDATE tds_sync_queue SET created_at = now() - interval '2 minutes' WHERE id = :i"), {"i": eid})
    env = {**os.environ, "CELERY_BROKER_URL": rabbitmq_vhost}
    script = "import json; from tasks.heal import enqueue_orphans; print(json.dumps(enqueue_orphans.run()))"
    out = subprocess.run([sys.executable, "-c", script],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"published": 1, "found": 1}
    with Connection(rabbitmq_vhost) as conn:
        waiting = conn.default_channel.queue_declare("sync.products", passive=True).message_count
    assert waiting == 1
    with db.begin() as c:
        assert c.execute(text("SELECT enqueued_at IS NOT NULL FROM tds_sync_queue WHERE id = :i"), {"i": eid}).scalar()

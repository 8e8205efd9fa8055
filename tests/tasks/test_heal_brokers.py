"""The healer on RabbitMQ: nothing in it reads a transport's internals, so an orphan is woken there too.

Needs the RabbitMQ of the development and CI machines (127.0.0.1:5672, guest/guest); a vhost of
its own is made with `rabbitmqctl` (skipped where neither is available).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from sqlalchemy import text

from tests.support.events import add_event
from tests.support.procs import ROOT
from tests.support.webhooks import item

VHOST = f"zohosync_{os.environ.get('ZOHOSYNC_TEST_DB', 'zohosync_test')}_heal"
AMQP_URL = f"amqp://guest:guest@127.0.0.1:5672/{VHOST}"


@pytest.fixture
def rabbitmq_vhost():
    ctl = shutil.which("rabbitmqctl")
    if ctl is None:
        pytest.skip("rabbitmqctl not available")
    made = subprocess.run([ctl, "add_vhost", VHOST], capture_output=True, text=True, timeout=60, check=False)
    if made.returncode != 0 and "already" not in (made.stdout + made.stderr):
        pytest.skip(f"cannot make a RabbitMQ vhost: {made.stderr.strip()[:200]}")
    subprocess.run([ctl, "set_permissions", "-p", VHOST, "guest", ".*", ".*", ".*"], check=True,
                   capture_output=True, timeout=60)
    yield AMQP_URL
    subprocess.run([ctl, "delete_vhost", VHOST], capture_output=True, timeout=60, check=False)


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

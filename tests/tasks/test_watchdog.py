"""`zohosync probe worker` and `zohosync watchdog` against a real Celery worker, Redis and PostgreSQL.

The commands run in this process (click's `CliRunner`), one after the other: each waits out the
inspect timeout (`tasks.watchdog.INSPECT_TIMEOUT`) to hear every worker, and the worker they judge
and end is a real `celery worker` process started by the fixture.
"""
from __future__ import annotations

import json
import socket
import threading
import time

import pytest
from click.testing import CliRunner, Result

from tasks.cli import main
from tests.support.procs import child_env, start_worker, wait_for
from tests.tasks.test_health import seed

pytestmark = pytest.mark.e2e  # a real worker per test, and a (test-sized) stuck-window to wait out

WINDOW = 2
"""The stuck-window the tests pass (`--window`), in seconds: the events seeded pending are a minute old, far
older than it; the worker's uptime passes it after a sleep of that long (Celery counts uptime from before
the worker is ready)."""


def zohosync(*args: str) -> Result:
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def worker(db, redis_client):
    proc = start_worker(child_env(), "wdog", queues="sync.warehouses", concurrency=1)
    yield proc
    proc.stop()


def test_a_worker_consuming_its_queues_probes_alive_and_an_unknown_one_absent(worker):
    alive = zohosync("probe", "worker", "wdog", "--json")
    assert alive.exit_code == 0, alive.output
    (found,) = json.loads(alive.stdout)
    assert found["worker"] == f"wdog@{socket.gethostname()}" and found["queues"] == ["sync.warehouses"]
    assert found["pid"] == worker.popen.pid
    nobody = zohosync("probe", "worker", "nobody-here")
    assert nobody.exit_code == 2, nobody.output


def test_work_pending_past_the_window_with_nothing_completed_is_stuck_and_the_watchdog_ends_it(db, worker):
    # Events nobody published (as after a consumer that silently stopped): pending, older than the window.
    seed(db, 3, "pending", "warehouses", age_minutes=1)
    time.sleep(WINDOW)  # the worker's uptime passes the (test-sized) window
    stuck = zohosync("probe", "worker", "wdog", "--window", str(WINDOW), "--json")
    assert stuck.exit_code == 1, stuck.output
    assert json.loads(stuck.stdout)[0]["status"] == "stuck"
    young = zohosync("probe", "worker", "wdog", "--window", "600")
    assert young.exit_code == 0, young.output  # younger than that window

    dry = zohosync("watchdog", "--dry-run", "--window", str(WINDOW))
    assert dry.exit_code == 0, dry.output
    dry = json.loads(dry.stdout)
    assert [(a["worker"].split("@")[0], a["action"]) for a in dry if a.get("action")] == [("wdog", "would end")]
    assert worker.alive()
    # As a supervisor would, this process (the worker's parent) reaps it the moment it exits, so the
    # watchdog sees it gone rather than a zombie it would wait the whole grace period on and then SIGKILL.
    threading.Thread(target=worker.popen.wait, daemon=True).start()
    ended = zohosync("watchdog", "--once", "--window", str(WINDOW), "--grace", "20")
    assert ended.exit_code == 0, ended.output
    ended = json.loads(ended.stdout)
    assert [a["action"] for a in ended if a["worker"].startswith("wdog@")] in (["terminated"], ["killed"])
    wait_for(lambda: not worker.alive(), timeout=30, message="the stuck worker's process ended")


def test_a_worker_that_completed_work_within_the_window_is_not_stuck(db, worker):
    seed(db, 3, "pending", "warehouses", age_minutes=1)
    time.sleep(WINDOW)  # the worker's uptime passes the window
    # Something of its queues completed just now (`seed` stamps its completion a few seconds after "now",
    # so it stays inside the window while the probe waits out its inspect timeout).
    seed(db, 1, "completed", "warehouses", age_minutes=0)
    probed = zohosync("probe", "worker", "wdog", "--window", str(WINDOW), "--json")
    assert probed.exit_code == 0, probed.output  # old pending, but it moves
    (found,) = json.loads(probed.stdout)
    assert found["old_pending"] == 3 and found["uptime_seconds"] >= WINDOW  # neither idle nor just started

"""`zohosync probe worker` and `zohosync watchdog` against a real Celery worker, Redis and PostgreSQL."""
from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support.procs import BIN, ROOT, child_env, start_worker, wait_for
from tests.tasks.test_health import seed

pytestmark = pytest.mark.slow  # a real worker per test, and a stuck-window to wait out


def zohosync(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "zohosync"), *args], cwd=ROOT, env=child_env(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def together(*calls: tuple[str, ...]) -> list[subprocess.CompletedProcess]:
    """`zohosync` commands that only read, run at once (each waits out its own inspect timeout)."""
    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(lambda args: zohosync(*args), calls))


@pytest.fixture
def worker(db, redis_client):
    proc = start_worker(child_env(), "wdog", queues="sync.warehouses", concurrency=1)
    yield proc
    proc.stop()


def test_a_worker_consuming_its_queues_probes_alive_and_an_unknown_one_absent(worker):
    alive, nobody = together(("probe", "worker", "wdog", "--json"), ("probe", "worker", "nobody-here"))
    assert alive.returncode == 0, alive.stdout + alive.stderr
    (found,) = json.loads(alive.stdout)
    assert found["worker"] == f"wdog@{socket.gethostname()}" and found["queues"] == ["sync.warehouses"]
    assert found["pid"] == worker.popen.pid
    assert nobody.returncode == 2


def test_work_pending_past_the_window_with_nothing_completed_is_stuck_and_the_watchdog_ends_it(db, worker):
    # Events nobody published (as after a consumer that silently stopped): pending, older than the window.
    seed(db, 3, "pending", "warehouses", age_minutes=1)
    time.sleep(2)  # the worker's uptime passes the (test-sized) window
    stuck, young, dry = together(("probe", "worker", "wdog", "--window", "2", "--json"),
                                 ("probe", "worker", "wdog", "--window", "600"),
                                 ("watchdog", "--dry-run", "--window", "2"))
    assert stuck.returncode == 1, stuck.stdout + stuck.stderr
    assert json.loads(stuck.stdout)[0]["status"] == "stuck"
    assert young.returncode == 0  # younger than that window

    dry = json.loads(dry.stdout)
    assert [(a["worker"].split("@")[0], a["action"]) for a in dry if a.get("action")] == [("wdog", "would end")]
    assert worker.alive()
    # As a supervisor would, this process (the worker's parent) reaps it the moment it exits, so the
    # watchdog sees it gone rather than a zombie it would wait the whole grace period on and then SIGKILL.
    threading.Thread(target=worker.popen.wait, daemon=True).start()
    ended = json.loads(zohosync("watchdog", "--once", "--window", "2", "--grace", "20").stdout)
    assert [a["action"] for a in ended if a["worker"].startswith("wdog@")] in (["terminated"], ["killed"])
    wait_for(lambda: not worker.alive(), timeout=30, message="the stuck worker's process ended")


def test_a_worker_that_completed_work_within_the_window_is_not_stuck(db, worker):
    seed(db, 3, "pending", "warehouses", age_minutes=1)
    time.sleep(10)  # the worker's uptime passes the window
    seed(db, 1, "completed", "warehouses", age_minutes=0)  # something of its queues completed just now
    assert zohosync("probe", "worker", "wdog", "--window", "10").returncode == 0  # old pending, but it moves

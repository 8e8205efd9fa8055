"""Flower exactly as the Procfile starts it: basic auth from FLOWER_BASIC_AUTH, Prometheus metrics, persistent state."""
from __future__ import annotations

import shlex
import signal

import pytest
import requests

from tasks.stack import read_procfile
from tests.conftest import TEST_ADMIN_TOKEN, TEST_WEBHOOK_SECRET
from tests.support.procs import BIN, Process, child_env, free_port, wait_http

pytestmark = pytest.mark.e2e

CREDENTIALS = ("ops", "flower-test-pass")


@pytest.fixture
def flower(database_url, tmp_path):
    port = free_port()
    # `make run` gives Flower FLOWER_PERSISTENT / FLOWER_DB (tasks/stack.py); here the db is the test's own.
    env = child_env(FLOWER_BASIC_AUTH=":".join(CREDENTIALS), FLOWER_PORT=str(port), FLOWER_PERSISTENT="True",
                    FLOWER_DB=str(tmp_path / "flower.db"))
    argv = shlex.split(read_procfile()["flower"]) + [f"--port={port}"]
    argv[0] = str(BIN / argv[0])  # the virtualenv's celery
    proc = Process("flower", argv, env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/healthcheck", proc, timeout=40)
        yield {"url": base, "proc": proc, "db": tmp_path}
    finally:
        proc.stop()


def test_flower_wants_the_basic_auth_credentials_and_serves_prometheus_metrics_with_them(flower):
    base = flower["url"]
    for path in ("/", "/workers", "/tasks", "/api/workers", "/api/tasks"):
        r = requests.get(base + path, timeout=10)
        assert r.status_code == 401, path
        if not path.startswith("/api/"):  # the UI challenges the browser; the API just refuses
            assert r.headers.get("WWW-Authenticate", "").startswith("Basic"), path
    assert requests.get(base + "/", auth=("ops", "wrong"), timeout=10).status_code == 401
    assert requests.get(base + "/", auth=CREDENTIALS, timeout=10).status_code == 200

    metrics = requests.get(base + "/metrics", auth=CREDENTIALS, timeout=10)
    assert metrics.status_code == 200
    assert "# TYPE flower_events_total" in metrics.text or "flower_worker_online" in metrics.text
    # Flower serves /metrics (and /healthcheck) even without the credentials, by design (mher/flower#1129,
    # #1342): what it shows must stay harmless — counts per task name and worker, no arguments, no secret.
    assert TEST_ADMIN_TOKEN not in metrics.text and TEST_WEBHOOK_SECRET not in metrics.text


def test_flower_keeps_its_state_in_the_persistent_db_on_shutdown(flower):
    proc: Process = flower["proc"]
    proc.popen.send_signal(signal.SIGTERM)
    proc.popen.wait(timeout=20)
    assert list(flower["db"].glob("flower.db*")), proc.output()[-2000:]

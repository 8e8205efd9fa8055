"""End-to-end fixtures: a real gunicorn receiver and a real Celery worker on the test database."""
from __future__ import annotations

import pytest

from tests.support.procs import child_env, free_port, start_receiver, start_worker


@pytest.fixture(scope="module")
def live_stack(database_url):
    env = child_env()
    port = free_port()
    web = start_receiver(env, port)
    worker = start_worker(env, "e2e")
    yield {"url": f"http://127.0.0.1:{port}", "web": web, "worker": worker, "env": env}
    worker.stop()
    web.stop()

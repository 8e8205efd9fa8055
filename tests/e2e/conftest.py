"""End-to-end fixtures: a real gunicorn receiver and a real Celery worker on the test database.

`any_broker_stack` runs the same stack once on Redis and once on RabbitMQ (a vhost made for
the run; the coordination store stays the test Redis through `REDIS_URL`).
"""
from __future__ import annotations

import pytest

from tests.conftest import TEST_BROKER_URL
from tests.support.brokers import BROKERS, broker_url
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


@pytest.fixture(scope="module", params=BROKERS)
def any_broker_stack(request, database_url):
    with broker_url(request.param, TEST_BROKER_URL) as url:
        env = child_env(CELERY_BROKER_URL=url, REDIS_URL=TEST_BROKER_URL)
        port = free_port()
        web = start_receiver(env, port)
        worker = start_worker(env, f"e2e-{request.param}")
        try:
            yield {"url": f"http://127.0.0.1:{port}", "web": web, "worker": worker, "env": env,
                   "broker": request.param}
        finally:
            worker.stop()
            web.stop()

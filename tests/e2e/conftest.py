"""End-to-end fixtures: the receiver over real HTTP and a real Celery worker on the test database.

`any_broker_stack` runs the same stack once on Redis and once on RabbitMQ (a vhost made for
the run; the coordination store stays the test Redis through `REDIS_URL`). On the test Redis the
receiver is served from a thread of the test process (`receiver_thread`); on RabbitMQ, whose
settings are not the test process's, by gunicorn as in production.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tests.conftest import TEST_BROKER_URL
from tests.support.brokers import BROKERS, broker_url
from tests.support.procs import child_env, free_port, receiver_thread, start_receiver, start_worker


@contextmanager
def stack_on_the_test_broker(name: str) -> Iterator[dict]:
    """The receiver in a thread of this process and a worker process, both on the test Redis."""
    env = child_env()
    with receiver_thread() as url:
        worker = start_worker(env, name)
        try:
            yield {"url": url, "worker": worker, "env": env, "broker": "redis"}
        finally:
            worker.stop()


@pytest.fixture(scope="module")
def live_stack(database_url):
    with stack_on_the_test_broker("e2e") as stack:
        yield stack


@pytest.fixture(scope="module", params=BROKERS)
def any_broker_stack(request, database_url):
    if request.param == "redis":
        with stack_on_the_test_broker("e2e-redis") as stack:
            yield stack
        return
    with broker_url(request.param, TEST_BROKER_URL) as url:
        env = child_env(CELERY_BROKER_URL=url, REDIS_URL=TEST_BROKER_URL)
        port = free_port()
        web = start_receiver(env, port)
        worker = start_worker(env, f"e2e-{request.param}")
        try:
            yield {"url": f"http://127.0.0.1:{port}", "worker": worker, "env": env, "broker": request.param}
        finally:
            worker.stop()
            web.stop()

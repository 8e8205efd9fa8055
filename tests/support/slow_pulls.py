"""The real Celery app plus a test-only pull task (`bulk.test_sleep`), for `celery -A tests.support.slow_pulls worker`.

The task notes in Redis when it started and finished, so a test can see how many ran at once.
"""
from __future__ import annotations

import time

from models import coord
from tasks import app

EVENTS = coord.key("test:slots", "events")


@app.task(name="bulk.test_sleep", ignore_result=True, acks_late=True)
def test_sleep(n: int, seconds: float) -> None:
    r = coord.client()
    r.rpush(EVENTS, f"start {n} {time.time()}")
    time.sleep(seconds)
    r.rpush(EVENTS, f"end {n} {time.time()}")


@app.task(name="maintenance.test_mark", ignore_result=True)
def test_mark(n: int) -> None:
    coord.client().rpush(EVENTS, f"mark {n} {time.time()}")

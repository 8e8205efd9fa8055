"""Log context bound once per task from Celery's own signals: every line of a task carries its ids."""
from __future__ import annotations

import io
import json
import logging

from celery.signals import task_postrun, task_prerun

from models.logs import JsonFormatter
from tasks import app


def _capture():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("tests.task-context")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_a_sync_tasks_lines_carry_its_task_id_event_id_and_entity_until_it_ends():
    task = app.tasks["sync.products.process"]
    logger, stream = _capture()
    task_prerun.send(sender=task, task_id="tid-1", task=task, args=(42,), kwargs={})
    logger.info("inside", extra={"status": "applied"})
    task_postrun.send(sender=task, task_id="tid-1", task=task, args=(42,), kwargs={}, retval=None, state="SUCCESS")
    logger.info("after")
    inside, after = (json.loads(line) for line in stream.getvalue().splitlines())
    assert (inside["task_id"], inside["event_id"], inside["entity"], inside["status"]) == (
        "tid-1", 42, "products", "applied")
    assert "task_id" not in after and "event_id" not in after


def test_other_tasks_carry_their_task_id_only():
    task = app.tasks["heal.enqueue_orphans"]
    logger, stream = _capture()
    task_prerun.send(sender=task, task_id="tid-2", task=task, args=(), kwargs={})
    logger.info("healing")
    task_postrun.send(sender=task, task_id="tid-2", task=task, args=(), kwargs={}, retval=None, state="SUCCESS")
    body = json.loads(stream.getvalue())
    assert body["task_id"] == "tid-2" and "entity" not in body and "event_id" not in body

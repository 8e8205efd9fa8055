"""The base class every zohosync task shares: delivery options, log context, retry by class."""
from __future__ import annotations

import logging

from celery import Task
from celery.signals import task_postrun, task_prerun

from models.logs import bind_context, reset_context
from tasks.pipeline import Outcome

log = logging.getLogger(__name__)


class SyncTask(Task):
    """Options written out once; the mirror (`tds_sync_queue.retry_count`) enforces retries.

    Tasks take ids only — never ORM objects, payloads or secrets — so nothing sensitive
    reaches the broker or Flower.
    """

    abstract = True
    acks_late = True
    reject_on_worker_lost = True
    max_retries = 5  # enforced per event by the mirror; Celery's own counter is not consulted
    soft_time_limit = 240
    time_limit = 300
    ignore_result = True
    typing = True

    def schedule_retry(self, outcome: Outcome, args: tuple, kwargs: dict | None = None) -> None:
        """Re-send the task for events that failed transiently, if the wait is short
        (`Outcome.retry_countdown`; longer waits stay parked for the healer)."""
        countdown = outcome.retry_countdown()
        if countdown is not None:
            raise self.retry(args=args, kwargs=kwargs or {}, countdown=countdown, max_retries=None)


def task_log_context(task_id: str | None, name: str | None, args) -> dict:
    """What every log line of a task carries: its id, and for `sync.<entity>.*` the entity and event id."""
    fields: dict = {"task_id": task_id}
    parts = (name or "").split(".")
    if len(parts) == 3 and parts[0] == "sync":
        fields["entity"] = parts[1]
        if parts[2] == "process" and args and len(args) == 1 and isinstance(args[0], (int, str)):
            fields["event_id"] = args[0]
    return fields


@task_prerun.connect
def _bind_task_context(task_id=None, task=None, args=None, **_):
    reset_context()
    bind_context(**task_log_context(task_id, getattr(task, "name", None), args))


@task_postrun.connect
def _drop_task_context(**_):
    reset_context()

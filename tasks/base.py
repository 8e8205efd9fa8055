"""The base class every zohosync task shares: delivery options, log context, retry by class."""
from __future__ import annotations

import logging

from celery import Task

from tasks.pipeline import PARK_AFTER_SECONDS, Outcome

log = logging.getLogger(__name__)


class SyncTask(Task):
    """Options written out once; the mirror (`tds_sync_queue.retry_count`) enforces retries.

    Tasks take ids only — never ORM objects, payloads or secrets — so nothing sensitive
    reaches Redis or Flower.
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
        """Re-send the task for events that failed transiently, if the wait is short.

        Longer waits (rate limits) stay parked in the mirror and `heal.requeue_failed`
        publishes them when due: a long countdown in Redis would outlive the visibility
        timeout and run twice.
        """
        if not outcome.retry or outcome.retry_in is None or outcome.retry_in > PARK_AFTER_SECONDS:
            return
        raise self.retry(args=args, kwargs=kwargs or {}, countdown=outcome.retry_in + 0.25, max_retries=None)

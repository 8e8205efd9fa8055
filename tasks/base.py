"""The base class every zohosync task shares: delivery options, log context, retry by class."""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from time import monotonic

from celery import Task
from celery.app.trace import LOG_RECEIVED, LOG_SUCCESS
from celery.signals import task_postrun, task_prerun, worker_init
from celery.worker.consumer import Consumer

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
        if is_per_event_task(name) and args and len(args) == 1 and isinstance(args[0], (int, str)):
            fields["event_id"] = args[0]
    return fields


@task_prerun.connect
def _bind_task_context(task_id=None, task=None, args=None, **_):
    reset_context()
    bind_context(**task_log_context(task_id, getattr(task, "name", None), args))


@task_postrun.connect
def _drop_task_context(**_):
    reset_context()


class PerEventLinesAtDebug(logging.Filter):
    """Celery's "received" and "succeeded" lines for `sync.<entity>.process` are logged at DEBUG.

    Under load they are two lines per event, most of them for a message whose event another
    task's group already applied; the pipeline's own "event processed" line (INFO, with the
    event id and its fate) is logged for each event a task applies, dead-letters or retries,
    and Flower and the mirror show every message. Formatting and writing the two lines
    cost the worker's consumer process 6 % and each pool process 14 % of their CPU in the bench
    profile. `-l debug` (or `ZOHOSYNC_LOG_LEVEL=DEBUG`) shows them again; every other Celery
    line (retries, failures, other tasks) is untouched.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        data = record.args
        if record.msg not in (LOG_RECEIVED, LOG_SUCCESS) or not isinstance(data, Mapping):
            return True
        if not is_per_event_task(data.get("name")):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger().isEnabledFor(logging.DEBUG)


def is_per_event_task(name) -> bool:
    """`sync.<entity>.process`: the task each accepted event's own message runs."""
    parts = name.split(".") if isinstance(name, str) else ()
    return len(parts) == 3 and parts[0] == "sync" and parts[2] == "process"


def quiet_per_event_lines() -> None:
    """Install `PerEventLinesAtDebug` on the two Celery loggers that write those lines (idempotent)."""
    for name in ("celery.app.trace", "celery.worker.strategy"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, PerEventLinesAtDebug) for f in logger.filters):
            logger.addFilter(PerEventLinesAtDebug())


STATEMENT_TIMEOUT_SECONDS = 240
"""Under the threads pool, the longest any PostgreSQL statement of the worker may run (= the soft time limit)."""


def with_statement_timeout(pgoptions: str, seconds: int = STATEMENT_TIMEOUT_SECONDS) -> str:
    """`PGOPTIONS` (libpq's per-connection settings) with a `statement_timeout`, unless one is already set."""
    if "statement_timeout" in pgoptions:
        return pgoptions
    return f"{pgoptions} -c statement_timeout={seconds * 1000}".strip()


@worker_init.connect
def _bound_statements_under_the_threads_pool(sender=None, **_):
    """The threads pool enforces no task time limit (Celery's soft/hard limits need prefork's children).

    The catalog and document workers run on it (Procfile), and their tasks are PostgreSQL work: every
    connection the worker opens gets `statement_timeout` (libpq's `PGOPTIONS`, read at connect,
    so no `SET` a rollback could undo), so a hung statement ends in an error the pipeline
    classifies as transient — its claim rolls back and the event is retried — instead of
    holding a thread. A claim left `processing` is released by `heal.release_stuck` as before.
    """
    if "thread" in str(getattr(sender, "pool_cls", "")).lower():
        os.environ["PGOPTIONS"] = with_statement_timeout(os.environ.get("PGOPTIONS", ""))


EVENT_FLUSH_SECONDS = 0.1
"""How long a worker gathers task events (for Flower) before publishing them together."""


class SyncConsumer(Consumer):
    """Celery's consumer (`worker_consumer` in celeryconfig), publishing task events every 100 ms.

    Celery buffers task-received/started/succeeded events and asks, through its
    `on_send_event_buffered` hook, for a flush on the next turn of the event loop: under load
    that is one or more broker publishes per message in the worker's single consumer process
    (43 % of its samples in the bench profile, where it was the bottleneck). Here the hook
    schedules `EventDispatcher.flush()` on the worker's timer 100 ms later instead, so the
    events leave as `task.multi` messages of up to 24 (the dispatcher's buffer limit
    flushes sooner). Flower sees every event, at most 100 ms later. Should a Celery release
    stop calling the hook, events are simply flushed as Celery flushes them.
    """

    events_flush_due: float | None = None
    """When the scheduled flush should run (None: none scheduled)."""

    def on_send_event_buffered(self):
        now = monotonic()
        # A flush more than a second overdue was lost with a restart of the timer: schedule anew.
        if self.hub is None or (self.events_flush_due is not None and now < self.events_flush_due + 1.0):
            return
        self.events_flush_due = now + EVENT_FLUSH_SECONDS
        self.hub.call_later(EVENT_FLUSH_SECONDS, self.publish_task_events)

    def publish_task_events(self) -> None:
        self.events_flush_due = None
        dispatcher = self.event_dispatcher
        if dispatcher is not None:
            dispatcher.flush()

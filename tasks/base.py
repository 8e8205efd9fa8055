"""The base class every zohosync task shares: delivery options, log context, retry by class."""
from __future__ import annotations

import logging

from celery import Task, bootsteps

from tasks.pipeline import Outcome
from tasks.publish import reuse_one_client

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
        """Re-send the task for events that failed transiently, if the wait is short
        (`Outcome.retry_countdown`; longer waits stay parked for the healer)."""
        countdown = outcome.retry_countdown()
        if countdown is not None:
            raise self.retry(args=args, kwargs=kwargs or {}, countdown=countdown, max_retries=None)


EVENT_FLUSH_SECONDS = 0.1
"""How long a worker gathers task events (for Flower) before publishing them as one message."""


class BatchedTaskEvents(bootsteps.StartStopStep):
    """Publish the worker's buffered task events at most every `EVENT_FLUSH_SECONDS`.

    Celery buffers task-received/started/succeeded events but flushes the buffer on every
    turn of the event loop, so under load each task costs one or more Redis PUBLISHes (and
    kombu a new client object per publish) in the worker's single consumer process — about
    half of its CPU in the bench profile. Gathered for 100 ms, they leave as one `task.multi`
    message per batch (at most `buffer_limit` = 24 events each). Flower sees every event,
    at most 100 ms later; the events stay on (`-E`, Flower's enable_events still work).
    """

    requires = ("celery.worker.consumer.events:Events",)

    def __init__(self, c, **kwargs):
        super().__init__(c, **kwargs)
        self.scheduled = False

    def start(self, c):
        self.scheduled = False
        dispatcher, hub = c.event_dispatcher, c.hub
        if dispatcher is None or hub is None or dispatcher.on_send_buffered is None:
            return

        def flush() -> None:
            self.scheduled = False
            c._flush_events()

        def on_buffered() -> None:
            if not self.scheduled:
                self.scheduled = True
                hub.call_later(EVENT_FLUSH_SECONDS, flush)

        dispatcher.on_send_buffered = on_buffered

    def stop(self, c):
        self._flush(c)

    def shutdown(self, c):
        self._flush(c)

    @staticmethod
    def _flush(c) -> None:
        if c.event_dispatcher is not None:
            try:
                c.event_dispatcher.flush()
            except Exception:  # noqa: BLE001 - monitoring events must never break a shutdown
                log.debug("could not flush task events", exc_info=True)


class KeptRedisClients(bootsteps.StartStopStep):
    """The consumer's Redis channels (tasks, events) each keep one client for their side commands.

    kombu's Redis channel builds a new `redis.Redis` object (two response-callback tables) for
    every command it sends outside its BRPOP connection: each received message's unacked
    bookkeeping, each ack, each batch of task events — about an eighth of the worker's main
    process CPU in the bench profile. The kept client uses the channel's own connection pool,
    in the consumer's single thread; a reconnect builds new channels, patched again here.
    """

    requires = ("celery.worker.consumer.tasks:Tasks", "celery.worker.consumer.events:Events")

    def start(self, c):
        channels = []
        if c.task_consumer is not None:
            channels.append(c.task_consumer.channel)
        dispatcher = c.event_dispatcher
        if dispatcher is not None and getattr(dispatcher, "producer", None) is not None:
            channels.append(dispatcher.producer.channel)
        for channel in channels:
            try:
                reuse_one_client(channel)
            except Exception:  # noqa: BLE001 - an optimisation; the channel works without it
                log.debug("could not keep a Redis client on %r", channel, exc_info=True)

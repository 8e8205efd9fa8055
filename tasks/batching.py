"""Micro-batching: the `sync.<entity>.process` messages waiting in a worker become one pool job.

Every webhook is still its own Celery message and its own task (id, events, late ack), but a
worker does not run them one by one: when a pool slot frees, it takes every message of that
entity it has received meanwhile (up to `SYNC_BATCH_MAX`) and runs them through the pipeline
in one transaction — one take, one upsert per table, one completion + audit statement, one
commit — instead of one transaction and one pool round trip per event.

It adapts to load without a timer: while a slot is free a message is dispatched at once (a
batch of one, no added latency); only while every slot is busy do messages gather, and the
next free slot takes them all. That is group commit, as databases do it.

What each message still gets, exactly as a single task would (Celery's own `Request` methods):
- `task-received`, `task-started` and `task-succeeded` / `task-retried` / `task-failed`
  events for Flower, per task id; the worker's active / reserved / total counts;
- the late ack, sent only after the batch's transaction committed (or its retry was
  published); a batch whose process dies is rejected and re-queued message by message
  (`reject_on_worker_lost`), and those come back flagged `redelivered`, which are never
  batched: they take the pipeline's careful path alone, so a record that kills its worker
  cannot take innocent neighbours to the dead-letter table with it;
- its own `celery_task_id` on its event row, its own log line, its own retry (same task id,
  `retries + 1`, short countdown; a longer wait stays parked for `heal.requeue_failed`).

Not batched (sent to the pool alone, the standard way): redelivered messages, retries with a
countdown (they come back through Celery's ETA timer), anything whose arguments are not a
single event id (a hand-typed call with a bad argument gets the task's own clear error), and
any pool without a slot semaphore (`--pool=solo|threads`).

The batch's wall time is reported as each task's runtime: it is how long that event waited
for its commit.
"""
from __future__ import annotations

import logging
from collections import deque
from time import monotonic

from celery.utils.saferepr import saferepr
from celery.worker.state import task_ready
from celery.worker.strategy import default as default_strategy

from models.settings import get_settings
from tasks.pipeline import OUTCOMES, pipeline_for

log = logging.getLogger(__name__)


def max_batch() -> int:
    """`SYNC_BATCH_MAX` (default 64): the most messages one pool job takes; 1 turns batching off."""
    value = get_settings().batch_max
    if value < 1:
        raise ValueError(f"SYNC_BATCH_MAX must be at least 1, got {value}")
    return value


def strategy(task, app, consumer, **kwargs):
    """`Task.Strategy` for `sync.<entity>.process`: Celery's default strategy, batched dispatch."""
    single = consumer.on_task_request
    semaphore = getattr(consumer.controller, "semaphore", None)
    if getattr(single, "__name__", "") != "_process_task_sem" or semaphore is None:
        return default_strategy(task, app, consumer, **kwargs)
    batcher = Batcher(task, consumer.pool, semaphore, single, max_batch())
    # The default strategy reads `consumer.on_task_request` once, here, as its hand-off to
    # the pool; ETA retries still go through the consumer's own (single) path.
    consumer.on_task_request = batcher.handle
    try:
        return default_strategy(task, app, consumer, **kwargs)
    finally:
        consumer.on_task_request = single


def _event_id(req) -> int | None:
    """The event id when the message is a plain `process(event_id)` call, else None."""
    try:
        args, kwargs = req.args, req.kwargs
    except Exception:  # noqa: BLE001 - a malformed body is the single path's to report
        return None
    if kwargs or not isinstance(args, (list, tuple)) or len(args) != 1:
        return None
    value = args[0]
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


class Batcher:
    """Gathers one task's requests in the worker's main process and dispatches them by slot."""

    def __init__(self, task, pool, semaphore, single, limit: int):
        self.task = task
        self.entity = task.name.split(".")[1]
        self.pool = pool
        self.semaphore = semaphore
        self.single = single
        self.limit = limit
        self.buffer: deque = deque()
        self.waiting = False

    def handle(self, req) -> None:
        event_id = None if self.limit <= 1 or (req.delivery_info or {}).get("redelivered") else _event_id(req)
        if event_id is None:
            self.single(req)
            return
        self.buffer.append((req, event_id))
        self._pump()

    def _pump(self) -> None:
        if self.buffer and not self.waiting:
            self.waiting = True
            self.semaphore.acquire(self._dispatch)  # runs now if a slot is free, else when one frees

    def _dispatch(self) -> None:
        self.waiting = False
        batch = []
        while self.buffer and len(batch) < self.limit:
            req, event_id = self.buffer.popleft()
            if not req.revoked():  # a revoked request announces and acks itself
                batch.append((req, event_id))
        if not batch:
            self.semaphore.release()
            return
        if self._submit(batch) is None:  # the pool is stopping: the messages stay unacked
            self.semaphore.release()
            return
        self._pump()

    def _submit(self, pairs: list):
        batch = [req for req, _ in pairs]
        items = [(r.id, event_id, int(r.request_dict.get("retries") or 0)) for r, event_id in pairs]

        def on_accepted(pid, time_accepted):
            for r in batch:
                r.on_accepted(pid, time_accepted)

        def on_timeout(soft, timeout):
            for r in batch:
                r.on_timeout(soft, timeout)

        def on_return(results):
            ack_together(batch)
            for r, (kind, value, runtime) in zip(batch, results):
                if kind == "retry":
                    task_ready(r)
                    r.acknowledge()
                    r.send_event("task-retried", exception=value, traceback="")
                else:
                    r.on_success((False, saferepr(value), runtime))  # as Celery's tracer reports a result

        def on_error(exc_info):
            for r in batch:
                r.on_failure(exc_info)

        return self.pool.apply_async(
            run_batch,
            args=(self.entity, items),
            accept_callback=on_accepted,
            timeout_callback=on_timeout,
            callback=on_return,
            error_callback=on_error,
            soft_timeout=self.task.soft_time_limit,
            timeout=self.task.time_limit,
            correlation_id=batch[0].id,
        )


def ack_together(requests: list) -> None:
    """Acknowledge a batch's messages in one Redis round trip instead of one per message.

    kombu's Redis transport acks a message by removing its delivery tag from the `unacked`
    hash and index (a MULTI/EXEC per message) and then forgetting it in memory; here the
    removals of the whole batch share one pipeline, then each message is marked acked the
    way `QoS.ack` would. Anything unusual (another transport, mixed channels, a message
    already settled, Redis unreachable) leaves the requests to ack themselves one by one.
    """
    try:
        from kombu.transport.redis import QoS as RedisQoS
        from kombu.transport.virtual.base import QoS as VirtualQoS
    except ImportError:  # pragma: no cover - redis-py is a dependency
        return
    todo = [r for r in requests if not r.acknowledged]
    messages = [getattr(r, "_message", None) for r in todo]
    if len(messages) < 2 or any(m is None for m in messages):
        return
    channel = messages[0].channel
    qos = getattr(channel, "qos", None)
    no_ack = getattr(channel, "no_ack_consumers", None) or ()
    if not isinstance(qos, RedisQoS) or any(
            m.channel is not channel or m.acknowledged or m.delivery_info.get("consumer_tag") in no_ack
            for m in messages):
        return
    try:
        with qos.pipe_or_acquire() as pipe:
            for m in messages:
                qos._remove_from_indices(m.delivery_tag, pipe)
            pipe.execute()
    except Exception:  # noqa: BLE001 - each request's own ack retries and logs it
        log.debug("batched ack failed; acking one by one", exc_info=True)
        return
    for r, m in zip(todo, messages):
        VirtualQoS.ack(qos, m.delivery_tag)
        m._state = "ACK"
        r.acknowledged = True


def run_batch(entity_name: str, items: list[tuple[str, int, int]]) -> list[tuple[str, object, float]]:
    """In a pool process: apply `(task_id, event_id, retries)` items in one pipeline run.

    Returns, per item and in order, `("done", summary, runtime)` or `("retry", error, runtime)`
    (its retry already published).
    """
    from tasks import app
    from tasks.publish import BROKER_ERRORS

    started = monotonic()
    owners: dict[int, str] = {}
    for task_id, event_id, _ in items:
        owners.setdefault(event_id, task_id)  # the same event twice in a batch: the first owns it
    outcome = pipeline_for(entity_name).run(list(owners), items[0][0], task_ids=owners)
    runtime = monotonic() - started
    fate = outcome.fates()
    countdown = outcome.retry_countdown()
    task = app.tasks[f"sync.{entity_name}.process"]
    results: list[tuple[str, object, float]] = []
    for task_id, event_id, retries in items:
        status = fate.get(event_id, "skipped") if owners[event_id] == task_id else "skipped"
        log.info("event processed", extra={"event_id": event_id, "entity": entity_name, "task_id": task_id,
                                            "status": status, "count": len(items)})
        if status == "retry" and countdown is not None:
            try:
                task.apply_async(args=(event_id,), task_id=task_id, countdown=countdown, retries=retries + 1)
            except BROKER_ERRORS as exc:
                log.warning("could not publish the retry; the event stays parked for the healer: %s",
                            type(exc).__name__, extra={"event_id": event_id, "task_id": task_id})
            else:
                results.append(("retry", outcome.error or "retry", runtime))
                continue
        summary = {name: int(status == name) for name in OUTCOMES}
        summary["batch"] = len(items)
        results.append(("done", summary, runtime))
    return results


__all__ = ["strategy", "Batcher", "run_batch", "max_batch", "ack_together"]

"""Pull slots: pulls may hold all but one of the pool slots of a worker that also serves sync or healing queues.

Pulls (`bulk.*`, `reconcile.*`, `images.*`) are routed to their own queue `bulk`, so an
operator can give them their own worker (`make run` does). A worker started without
`-Q` consumes every queue, though, and there rate-limited pulls used to fill every slot
while webhook events and `heal.*` waited minutes. So on such a worker (one consuming
`bulk` *and* anything else) at most `concurrency - 1` pull tasks run at once (a
one-slot worker cannot keep a slot free: it runs one pull at a time, and the docs say to
give it more slots or a `-Q`). A worker consuming only `bulk` has no limit.

How (public Celery API only):

- the worker's main process learns its concurrency and queues from the
  `celeryd_after_setup` signal (after `-Q` is applied, before the pool forks), and
  forgets the slots its previous incarnation held (a SIGKILLed worker cannot release them);
- `task_annotations` (tasks/__init__.py) give every pull task a `before_start` handler that
  takes a slot in the coordination store — a sorted set per worker node, each entry
  expiring after the task's hard time limit — with one atomic script;
- a pull over its share does not wait in its slot: it is published again with a
  countdown of a few seconds (`signature_from_request`, same task id and arguments) and
  this delivery is ended with `Ignore`, which frees the slot at once;
- `task_postrun` gives the slot back.

A coordination store that cannot be reached fails open (the pull runs): the slots protect
latency, never data.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any

from celery.exceptions import Ignore
from celery.signals import celeryd_after_setup, task_postrun

from models import coord

log = logging.getLogger(__name__)

PULL_QUEUE = "bulk"
PULL_TASK_PREFIXES = ("bulk.", "reconcile.", "images.")
DEFER_SECONDS = (2.0, 6.0)
DEFAULT_HOLD_SECONDS = 3600

_limit: int | None = None
"""Pull slots of this worker node (None: unlimited). Set in the main process, inherited by pool children."""

# KEYS[1] the node's slots (zset: task id -> expiry, epoch s); ARGV[1] task id, ARGV[2] limit, ARGV[3] hold (s)
_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[3]) + 60)
return 1
"""


def is_pull(task_name: str | None) -> bool:
    return bool(task_name) and task_name.startswith(PULL_TASK_PREFIXES)


def limit_for(concurrency: int, queues: set[str]) -> int | None:
    """How many pulls a worker with `concurrency` slots consuming `queues` may run at once (None: no limit)."""
    if PULL_QUEUE not in queues or queues <= {PULL_QUEUE}:
        return None
    return max(1, concurrency - 1)


def slots_key(hostname: str) -> str:
    return coord.key(f"slots:{hostname}", "pulls")


def configure(hostname: str, concurrency: int, queues: set[str]) -> int | None:
    """Set this worker's pull limit and drop slots a previous process of the same name left behind."""
    global _limit
    _limit = limit_for(concurrency, queues)
    try:
        coord.client().delete(slots_key(hostname))
    except coord.ERRORS as e:
        log.warning("pull slots not reset: coordination store unavailable (%s)", type(e).__name__)
    if _limit is not None:
        log.info("pulls may use %s of %s slots on this worker", _limit, concurrency,
                 extra={"hostname": hostname})
    return _limit


@celeryd_after_setup.connect
def _configure_worker(sender=None, instance=None, **_: Any) -> None:
    queues = {q for q in instance.app.amqp.queues.consume_from}
    configure(str(sender), int(instance.concurrency or 1), queues)


def take(hostname: str, task_id: str, limit: int, hold_seconds: float) -> bool:
    """One atomic attempt at a slot on `hostname`; True when granted (or already held by this task)."""
    granted = coord.client().eval(_TAKE, 1, slots_key(hostname), task_id, limit, int(max(1, hold_seconds)))
    return bool(int(granted))


def release(hostname: str, task_id: str) -> None:
    try:
        coord.client().zrem(slots_key(hostname), task_id)
    except coord.ERRORS as e:
        log.warning("pull slot not released (expires on its own): %s", type(e).__name__)


def before_start(task, task_id: str, args, kwargs) -> None:
    """`before_start` of every pull task (via `task_annotations`): take a slot, or defer this pull."""
    limit = _limit
    hostname = task.request.hostname
    if limit is None or not hostname:
        return
    hold = task.time_limit or task.app.conf.task_time_limit or DEFAULT_HOLD_SECONDS
    try:
        if take(hostname, task_id, limit, hold):
            return
    except coord.ERRORS as e:
        log.warning("pull slots unavailable, running anyway: %s", type(e).__name__)
        return
    delay = random.uniform(*DEFER_SECONDS)
    try:
        task.signature_from_request().apply_async(countdown=delay)
    except Exception as e:  # noqa: BLE001 - cannot defer: run now rather than drop the pull
        log.warning("pull could not be deferred, running it now: %s", type(e).__name__)
        return
    log.info("pull deferred %.1f s: its share of this worker's slots is in use", delay,
             extra={"task_id": task_id, "task": task.name})
    task.request.pull_deferred_at = time.time()
    raise Ignore()


@task_postrun.connect
def _release_slot(sender=None, task_id: str | None = None, task=None, **_: Any) -> None:
    task = task or sender
    if _limit is None or task is None or not is_pull(getattr(task, "name", None)):
        return
    if getattr(task.request, "pull_deferred_at", None):
        return  # deferred: it never took a slot, and its next delivery (same id) may hold one now
    hostname = task.request.hostname
    if hostname and task_id:
        release(hostname, task_id)


class PullSlotAnnotation:
    """`task_annotations` entry: pull tasks get `before_start`; every other task is left alone."""

    def annotate(self, task) -> dict[str, Any] | None:
        if is_pull(task.name):
            return {"before_start": before_start}
        return None

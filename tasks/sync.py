"""`sync.<entity>.process(event_id)` for every registered entity, on one base class.

Each webhook (or healed) event is its own message and its own task. The task applies its
event through the pipeline and, in the same transaction, up to `SYNC_BATCH_MAX` − 1 other due
events of its entity waiting in the mirror (group commit, see `tasks.pipeline`); their own
messages then find them completed and finish at once.

`sync.<entity>.process_batch(event_ids)` applies a page of events (bulk pulls) through
exactly the same pipeline and transformer.
"""
from __future__ import annotations

import logging

from tasks import app
from tasks.base import SyncTask
from tasks.pipeline import max_batch, pipeline_for
from zoho.entities import Entity, registry

log = logging.getLogger(__name__)


def _redelivered(request) -> bool:
    """True when the broker handed this message back after a worker died holding it (kombu sets it)."""
    return bool((request.delivery_info or {}).get("redelivered"))


def _register(entity: Entity) -> None:
    name = entity.name

    @app.task(name=entity.task_name, base=SyncTask, bind=True, queue=entity.queue)
    def process(self, event_id: int) -> dict:
        event_id = int(event_id)
        outcome = pipeline_for(name).run([event_id], self.request.id, redelivered=_redelivered(self.request),
                                         co_apply=max_batch() - 1)
        fate = outcome.fates().get(event_id, "skipped")
        # A skipped event was applied by another task's group (or is held by one): Celery's own
        # "succeeded" line already says so; ours would only double the log volume under load.
        log.log(logging.DEBUG if fate == "skipped" else logging.INFO, "event processed",
                extra={"status": fate, "count": len(outcome.co_applied)})
        if event_id in outcome.retry:  # a co-applied event's retry is its own message's (or the healer's)
            self.schedule_retry(outcome, args=(event_id,))
        return outcome.summary()

    @app.task(name=f"sync.{name}.process_batch", base=SyncTask, bind=True, queue=entity.queue,
              soft_time_limit=540, time_limit=600)
    def process_batch(self, event_ids: list[int]) -> dict:
        outcome = pipeline_for(name).run([int(i) for i in event_ids], self.request.id,
                                         redelivered=_redelivered(self.request))
        log.info("batch processed", extra={"count": len(event_ids)})
        if outcome.retry:
            self.schedule_retry(outcome, args=(outcome.retry,))
        return outcome.summary()

    globals()[f"process_{name.replace('-', '_')}"] = process
    globals()[f"process_batch_{name.replace('-', '_')}"] = process_batch


for _entity in registry().values():
    _register(_entity)

"""`sync.<entity>.process(event_id)` for every registered entity, on one base class.

In a worker, the messages of one entity that arrive while every pool slot is busy are run
together (`tasks.batching`); each keeps its own task id, events and late ack. Called directly
or `.apply()`d, a task runs its one event.

`sync.<entity>.process_batch(event_ids)` applies a page of events (bulk pulls) through
exactly the same pipeline and transformer.
"""
from __future__ import annotations

import logging

from tasks import app
from tasks.base import BatchedTaskEvents, KeptRedisClients, SyncTask
from tasks.pipeline import pipeline_for
from zoho.entities import Entity, registry

log = logging.getLogger(__name__)


def _redelivered(request) -> bool:
    """True when the broker handed this message back after a worker died holding it (kombu sets it)."""
    return bool((request.delivery_info or {}).get("redelivered"))


def _register(entity: Entity) -> None:
    name = entity.name

    @app.task(name=entity.task_name, base=SyncTask, bind=True, queue=entity.queue,
              Strategy="tasks.batching:strategy")
    def process(self, event_id: int) -> dict:
        outcome = pipeline_for(name).run([int(event_id)], self.request.id, redelivered=_redelivered(self.request))
        log.info("event processed", extra={"event_id": event_id, "entity": name, "task_id": self.request.id,
                                            "status": outcome.fates().get(int(event_id), "skipped")})
        self.schedule_retry(outcome, args=(event_id,))
        return outcome.summary()

    @app.task(name=f"sync.{name}.process_batch", base=SyncTask, bind=True, queue=entity.queue,
              soft_time_limit=540, time_limit=600)
    def process_batch(self, event_ids: list[int]) -> dict:
        outcome = pipeline_for(name).run([int(i) for i in event_ids], self.request.id,
                                         redelivered=_redelivered(self.request))
        log.info("batch processed", extra={"entity": name, "task_id": self.request.id, "count": len(event_ids)})
        if outcome.retry:
            self.schedule_retry(outcome, args=(outcome.retry,))
        return outcome.summary()

    globals()[f"process_{name.replace('-', '_')}"] = process
    globals()[f"process_batch_{name.replace('-', '_')}"] = process_batch


app.steps["consumer"].add(BatchedTaskEvents)
app.steps["consumer"].add(KeptRedisClients)

for _entity in registry().values():
    _register(_entity)

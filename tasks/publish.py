"""Publishing wake-up calls for recorded events; a broker failure is survivable by design.

The event row is already committed when we publish, so a failure here only means the
row stays `pending` until `heal.enqueue_orphans` publishes it again.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from kombu.exceptions import KombuError, OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from zoho.entities import get_entity

log = logging.getLogger(__name__)

BROKER_ERRORS = (KombuError, KombuOperationalError, RedisError, OSError, ConnectionError, TimeoutError)


def publish_event(entity_name: str, event_id: int) -> bool:
    """Send `sync.<entity>.process(event_id)`; False (logged) when the broker is unreachable."""
    from tasks import app

    entity = get_entity(entity_name)
    if entity is None:
        return False
    try:
        app.send_task(entity.task_name, args=[event_id], queue=entity.queue, routing_key=entity.queue)
        return True
    except BROKER_ERRORS as exc:
        log.warning("broker unreachable; event stays pending for the healer: %s", type(exc).__name__,
                    extra={"event_id": event_id, "entity": entity_name})
        return False


def publish_many(events: Iterable[tuple[str, int]]) -> int:
    """Publish many `(entity, event_id)` over one producer; returns how many were sent."""
    from tasks import app

    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for entity_name, event_id in events:
                entity = get_entity(entity_name)
                if entity is None:
                    continue
                app.send_task(entity.task_name, args=[event_id], queue=entity.queue,
                              routing_key=entity.queue, producer=producer)
                sent += 1
    except BROKER_ERRORS as exc:
        log.warning("broker unreachable while publishing: %s", type(exc).__name__, extra={"count": sent})
    return sent

"""Publishing wake-up calls for recorded events; a broker failure is survivable by design.

The event row is already committed when we publish, so a failure here only means the
row stays `pending` until `heal.enqueue_orphans` publishes it again.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

from kombu.exceptions import KombuError
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from zoho.entities import get_entity

log = logging.getLogger(__name__)

BROKER_ERRORS = (KombuError, KombuOperationalError, RedisError, OSError, ConnectionError, TimeoutError)


class _ThreadPublisher:
    """One broker connection and producer kept by a receiver thread, so a webhook's publish is one send.

    Per message, Celery's default path acquires a producer from the pool and re-binds the
    queue to declare it; here a queue is declared once per connection. The message is still
    Celery's own (`send_task`), so workers, Flower and retries see no difference, on any broker.
    """

    def __init__(self, app):
        self.url = app.conf.broker_url
        self.connection = app.connection_for_write()
        self.producer = app.amqp.Producer(self.connection, auto_declare=False)
        self.declared: set[str] = set()

    def send(self, app, entity, event_id: int) -> None:
        declare = [] if entity.queue in self.declared else None  # None: Celery declares the queue
        app.send_task(entity.task_name, args=[event_id], queue=entity.queue, routing_key=entity.queue,
                      producer=self.producer, declare=declare, argsrepr=f"[{event_id}]", kwargsrepr="{}")
        self.declared.add(entity.queue)

    def close(self) -> None:
        try:
            self.connection.release()
        except Exception:  # noqa: BLE001 - closing a broken connection may fail again
            pass


_local = threading.local()


def publish_event(entity_name: str, event_id: int) -> bool:
    """Send `sync.<entity>.process(event_id)`; False (logged) when the broker is unreachable."""
    from tasks import app

    entity = get_entity(entity_name)
    if entity is None:
        return False
    publisher = getattr(_local, "publisher", None)
    try:
        if publisher is None or publisher.url != app.conf.broker_url:
            if publisher is not None:
                publisher.close()
            _local.publisher = None
            publisher = _local.publisher = _ThreadPublisher(app)
        publisher.send(app, entity, event_id)
        return True
    except BROKER_ERRORS as exc:
        if publisher is not None:
            publisher.close()
        _local.publisher = None  # the next webhook reconnects
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

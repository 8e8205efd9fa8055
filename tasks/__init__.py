"""The Celery app `tasks` (`celery -A tasks worker|beat|flower|call`) and every task module.

Per-entity queues and routes fall out of the entity registry: `sync.<entity>.process`
is routed to queue `sync.<entity>`, so an operator can run a worker pool per entity
type, while a worker started without `-Q` consumes every queue.
"""
from __future__ import annotations

from celery import Celery
from celery.signals import after_setup_logger, after_setup_task_logger, worker_process_init
from kombu import Exchange, Queue

from models.db import dispose_after_fork
from models.logs import configure_logging
from zoho.entities import registry

app = Celery("tasks")
app.config_from_object("celeryconfig")

_exchange = Exchange("zohosync", type="direct")
app.conf.task_queues = list(app.conf.task_queues) + [
    Queue(entity.queue, _exchange, routing_key=entity.queue) for entity in registry().values()
]
app.conf.task_routes = {
    **{f"sync.{name}.*": {"queue": e.queue, "routing_key": e.queue} for name, e in registry().items()},
    **app.conf.task_routes,
}

# Pulls may never hold every slot of a worker that also serves sync or healing queues.
from tasks.slots import PullSlotAnnotation  # noqa: E402

app.conf.task_annotations = [*(app.conf.task_annotations or []), PullSlotAnnotation()]

try:
    import beat_schedule

    app.conf.beat_schedule = beat_schedule.beat_schedule
except ImportError:  # pragma: no cover - the schedule ships with the project
    pass


@worker_process_init.connect
def _fresh_connections_in_child(**_):
    dispose_after_fork()


@after_setup_logger.connect
@after_setup_task_logger.connect
def _structured_logs(logger=None, **_):
    """Celery has just given `logger` its own handler: ours replaces it (one line per record, redacted)."""
    configure_logging(logger=logger, replace=True)
    from tasks.base import quiet_per_event_lines

    quiet_per_event_lines()


# Register every task (imported for their side effect on `app`).
from tasks import base, bulk, heal, images, monitor, reconcile, sync  # noqa: E402,F401

celery = app
__all__ = ["app", "celery"]

"""Celery settings: broker, serialisation, delivery guarantees, queues and routes.

Delivery, chosen together:
- `task_acks_late` + `task_reject_on_worker_lost`: a message is acknowledged only after
  its task returns, so a worker killed mid-task leaves it to be delivered again.
- Redis re-delivers an unacknowledged message after `visibility_timeout`; a countdown
  longer than that would run twice (celery#2481), so retries use short countdowns
  (1–16 s) and longer waits are parked in the mirror (`next_attempt_at`) for the healer.
  The timeout (30 min) exceeds the hard time limit of every task (10 min for a bulk page),
  so a task still running is never handed to a second worker.
- Lost or stranded messages cost latency, not data: `tds_sync_queue` is the truth and
  `heal.enqueue_orphans` re-publishes pending rows within a minute. Prefetch is 32 per pool
  process. A worker SIGKILLed with prefetched messages unacked leaves them to Redis's
  visibility timeout; their rows are applied sooner by other tasks' group commit
  (`tasks.pipeline`) or woken by the healer.
- Children recycle at ~300 MB (the guard against growth) or after 100,000 tasks (a backstop).
  At 1,000 tasks a child was replaced every few seconds under load — each replacement a fork,
  new PostgreSQL connections and a cold statement cache, and a task stalled ~2 s behind it —
  while a child's memory stays flat (~96 MiB over a 20,000-event burst). Both apply to the
  prefork workers only (pulls, healing, contacts): the threads-pool workers (catalog,
  documents) have no child to recycle, so nothing bounds their process's memory but its
  supervisor restarting it.
- Exactly one beat sends: `redbeat.RedBeatScheduler` keeps the schedule's state (each
  entry's last run) in the coordination Redis, not a local file, and sends only while it
  holds a lock there (`BEAT_LOCK_TIMEOUT`, default 60 s, renewed every
  `BEAT_MAX_LOOP_INTERVAL`, default 10 s, at the most). A second beat — by mistake or as a
  standby — waits on the lock and takes over within that time when the first one dies.
- Pulls (`bulk.*`, `reconcile.*`, `images.*`) run on their own queue `bulk`; a worker that
  consumes it next to sync or healing queues (no `-Q`) lets them hold at most all but one of
  its slots (`tasks.slots`): a pull over its share is deferred a few seconds, not run.
- Task events (Flower) stay on; `tasks.base.SyncConsumer` (Celery's consumer through the
  `worker_consumer` setting) publishes them every 100 ms instead of once per event-loop turn.
  (`task_track_started` changes no event: the worker sends task-started whatever it says, and
  with results ignored Celery stores no STARTED state either.)
- The catalog and document workers run the threads pool, pulls and healing prefork (Procfile;
  docs/pipeline.md): the poison rule keeps its evidence in the mirror (`tds_group_attempts`),
  so it holds whether a death takes a pool child or the whole process.
"""
from kombu import Exchange, Queue

from models import coord
from models.settings import get_settings

_settings = get_settings()

broker_url = _settings.broker_url
result_backend = _settings.result_backend
task_ignore_result = True

task_serializer = "json"
result_serializer = "json"
accept_content = ["json"]
timezone = "UTC"
enable_utc = True

task_acks_late = True
task_reject_on_worker_lost = True
worker_prefetch_multiplier = 32
worker_max_tasks_per_child = 100_000  # memory is the real guard (below); this is a backstop
worker_max_memory_per_child = 300_000  # KiB
worker_send_task_events = True
worker_consumer = "tasks.base:SyncConsumer"  # Celery's consumer, task events published every 100 ms
task_send_sent_event = False  # each "sent" event is a second Redis publish per webhook; workers still report received/started/succeeded
task_track_started = True

task_soft_time_limit = 240
task_time_limit = 300

broker_connection_retry_on_startup = True
broker_connection_max_retries = None
broker_transport_options = {
    "visibility_timeout": 1800,
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
    "retry_on_timeout": True,
    "health_check_interval": 10,
}
if broker_url.split("://", 1)[0] in coord.SENTINEL_SCHEMES:
    # kombu reads the Sentinel master from the transport options; take it from the URL (`?master_name=`).
    try:
        broker_transport_options["master_name"] = coord.parse_url(broker_url).master_name
    except coord.CoordinationNotConfigured:
        pass  # no master_name in the URL: kombu says what is missing when it connects
broker_heartbeat = 0
redis_socket_connect_timeout = 2

# Publishing from the webhook receiver must fail fast: the event is already committed
# and stays `pending` for the healer, so waiting on a dead broker only delays Zoho's 2xx.
task_publish_retry = True
task_publish_retry_policy = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}

task_default_queue = "maintenance"
task_default_exchange = "zohosync"
task_default_routing_key = "maintenance"

# Per-entity queues `sync.<entity>` are added from the entity registry in `tasks/__init__.py`.
task_queues = [
    Queue("maintenance", Exchange("zohosync", type="direct"), routing_key="maintenance"),
    # RabbitMQ honours message priorities only on a queue declared with x-max-priority (tasks.bulk.pull_priority).
    Queue("bulk", Exchange("zohosync", type="direct"), routing_key="bulk", queue_arguments={"x-max-priority": 10}),
]

task_routes = {
    "bulk.*": {"queue": "bulk", "routing_key": "bulk"},
    "reconcile.*": {"queue": "bulk", "routing_key": "bulk"},
    "images.*": {"queue": "bulk", "routing_key": "bulk"},
    "heal.*": {"queue": "maintenance", "routing_key": "maintenance"},
    "monitor.*": {"queue": "maintenance", "routing_key": "maintenance"},
}

beat_max_loop_interval = max(1, _settings.beat_max_loop_interval)  # BEAT_MAX_LOOP_INTERVAL
beat_scheduler = "tasks.beat:Scheduler"
redbeat_key_prefix = "zohosync:{redbeat}:"
redbeat_lock_timeout = max(_settings.beat_lock_timeout, 2 * beat_max_loop_interval)
try:
    _redbeat = coord.redbeat_config()
except coord.CoordinationNotConfigured:  # amqp broker without REDIS_URL: health says what to set
    _redbeat = {}
redbeat_redis_url = _redbeat.get("redbeat_redis_url")
redbeat_redis_options = _redbeat.get("redbeat_redis_options", {})

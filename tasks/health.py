"""The health verdict and the measurements behind it: one implementation for the dashboard, the CLI and `monitor.snapshot`.

`evaluate()` answers `{"status": "healthy|warning|critical|emergency", "checks": {...}}`
with the thresholds of docs/reference.md#health-thresholds, and never raises: an unreachable database or broker is a
verdict (`emergency`), not an exception. Every query here reads an index (see the partial
indexes on `tds_sync_queue` in `models/queue.py`), so the answers stay fast on a mirror of
millions of rows; nothing counts the whole table.

How delay is defined (per entity, from the queue mirror alone):

- `sync_delay.<entity>` — how long the oldest change still waiting (`pending`,
  `processing` or `failed`, i.e. not yet applied and not given up on) has waited since
  it was received (`now() - created_at`); 0 when nothing waits. It measures what an ERP
  user feels: a change in Zoho that the ERP does not show yet. Dead events are not
  delay — they wait for a person and are counted by `dead_letters`.
- `sync_stopped` — for each entity with work waiting, how long it has been since
  anything was last applied for it, counted from when the waiting started:
  `now() - max(last completion, oldest waiting receipt)`. A slow but moving queue
  keeps this near zero; a queue that nothing consumes makes it grow with the delay.

The broker is probed through kombu (a connection, on Redis and RabbitMQ alike), the workers
through Celery's inspect API plus canaries, and the coordination Redis (`REDIS_URL`) by a
PING; nothing reads a transport's internals. With no worker consuming, the verdict is never
`healthy`. The Zoho token and API budget come from `zoho.oauth` / `zoho.ratelimit`; when
those cannot be imported or fail, their checks are `unknown` and do not move the overall status.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models import coord
from models.db import get_engine
from models.settings import get_settings

log = logging.getLogger(__name__)

LEVELS = ("healthy", "warning", "critical", "emergency")
UNKNOWN = "unknown"
RANK = {name: i for i, name in enumerate(LEVELS)}

# docs/reference.md#health-thresholds, exactly: a value strictly above a threshold reaches that level.
PENDING = {"warning": 50, "critical": 200}
FAILED = {"warning": 5, "critical": 20}
DEAD_LETTERS = {"critical": 10}
DELAY_SECONDS = {"warning": 30 * 60, "critical": 2 * 3600}
STOPPED_SECONDS = {"emergency": 6 * 3600}

WAITING = ("pending", "processing", "failed")
NOT_COMPLETED = WAITING + ("dead",)

CANARY_TIMEOUT_SECONDS = 180
"""A canary not consumed this long after it was sent means the queue has no live consumer."""

WORKER_TIMEOUT_SECONDS = 1.0
BROKER_TIMEOUT_SECONDS = 2.0
KEY_PREFIX = "zohosync:health:"
# In the coordination store; the canary keys share one hash tag (one script touches two of them).
CANARY_SENT = coord.key("health:canary", "sent")  # queue -> epoch of the oldest canary not yet consumed
CANARY_PUBLISHED = coord.key("health:canary", "published")  # queue -> epoch of the last publish
CANARY_DONE = coord.key("health:canary", "done")  # queue -> epoch the last canary was consumed
WORKER_COUNT = f"{KEY_PREFIX}workers"  # how many workers answered the last full probe
WORKER_PROBE = f"{KEY_PREFIX}worker-probe"  # the last probe's answer, shared by every process


@dataclass
class Check:
    name: str
    value: Any
    threshold: Any
    verdict: str
    message: str
    unit: str | None = None  # "seconds" where value and threshold are durations

    def as_dict(self) -> dict[str, Any]:
        out = {"value": self.value, "threshold": self.threshold, "verdict": self.verdict, "message": self.message}
        if self.unit:
            out["unit"] = self.unit
        return out


@dataclass
class Snapshot:
    """What one look at the system found: the checks plus the raw numbers they were made from."""

    checks: dict[str, Check] = field(default_factory=dict)
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # entity -> status -> n (not completed)
    entities: dict[str, dict[str, Any]] = field(default_factory=dict)  # entity -> last sync, delay, ...
    dead_letters: int | None = None
    workers: dict[str, Any] = field(default_factory=dict)
    database_ok: bool = False
    broker_ok: bool = False
    coordination_ok: bool = False
    generated_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.timezone.utc))

    def add(self, check: Check) -> None:
        self.checks[check.name] = check

    @property
    def status(self) -> str:
        known = [c.verdict for c in self.checks.values() if c.verdict in RANK]
        return max(known, key=RANK.__getitem__, default="healthy")

    def report(self) -> dict[str, Any]:
        return {"status": self.status, "generated_at": self.generated_at.isoformat(),
                "checks": {name: c.as_dict() for name, c in self.checks.items()}}


def graded(value: float | None, thresholds: dict[str, float]) -> str:
    """The highest level whose threshold `value` exceeds (strictly), else healthy."""
    verdict = "healthy"
    if value is None:
        return verdict
    for level, limit in thresholds.items():
        if value > limit and RANK[level] > RANK[verdict]:
            verdict = level
    return verdict


def human_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = int(seconds)
    if seconds < 90:
        return f"{seconds} s"
    if seconds < 5400:
        return f"{seconds // 60} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} d"


def entity_list(extra: list[str] | tuple[str, ...] = ()) -> list[str]:
    """Registered entities first (registry order), then any other entity type seen in the mirror."""
    from zoho.entities import entity_names

    names = list(entity_names())
    return names + sorted(set(extra) - set(names))


# --------------------------------------------------------------------------- queries
# Each takes an open Connection; each is answered by one index (EXPLAIN-tested).

def queue_counts(conn) -> dict[str, dict[str, int]]:
    """Entity -> status -> count for every status but `completed` (the partial index `ix_tds_sync_queue_unfinished`)."""
    out: dict[str, dict[str, int]] = {}
    rows = conn.execute(text(
        "SELECT entity_type, status, count(*) AS n FROM tds_sync_queue "
        "WHERE status IN ('pending','processing','failed','dead') GROUP BY entity_type, status"
    ))
    for r in rows:
        out.setdefault(r.entity_type, {})[r.status] = int(r.n)
    return out


def entity_progress(conn, entities: list[str]) -> dict[str, dict[str, Any]]:
    """Per entity: last completion, oldest waiting receipt, and the database's `now()`."""
    rows = conn.execute(text(
        """
        SELECT e.name,
               (SELECT max(q.completed_at) FROM tds_sync_queue q
                 WHERE q.entity_type = e.name AND q.status = 'completed') AS last_completed,
               (SELECT min(q.created_at) FROM tds_sync_queue q
                 WHERE q.entity_type = e.name AND q.status IN ('pending','processing','failed')) AS oldest_waiting,
               now() AS now
          FROM unnest(CAST(:entities AS text[])) AS e(name)
        """
    ), {"entities": entities})
    out = {}
    for r in rows:
        delay = (r.now - r.oldest_waiting).total_seconds() if r.oldest_waiting else 0.0
        stopped = 0.0
        if r.oldest_waiting is not None:
            since = max(r.oldest_waiting, r.last_completed) if r.last_completed else r.oldest_waiting
            stopped = max(0.0, (r.now - since).total_seconds())
        out[r.name] = {
            "last_sync": r.last_completed,
            "last_sync_age_seconds": (r.now - r.last_completed).total_seconds() if r.last_completed else None,
            "oldest_waiting": r.oldest_waiting,
            "delay_seconds": max(0.0, delay),
            "stopped_seconds": stopped,
        }
    return out


def unresolved_dead_letters(conn) -> int:
    return int(conn.execute(text("SELECT count(*) FROM tds_dead_letter_queue WHERE resolved_at IS NULL")).scalar())


def completed_per_entity(conn, entities: list[str], minutes: int) -> dict[str, int]:
    rows = conn.execute(text(
        """
        SELECT e.name, (SELECT count(*) FROM tds_sync_queue q
                         WHERE q.entity_type = e.name AND q.status = 'completed'
                           AND q.completed_at >= now() - make_interval(mins => :m)) AS n
          FROM unnest(CAST(:entities AS text[])) AS e(name)
        """
    ), {"entities": entities, "m": minutes})
    return {r.name: int(r.n) for r in rows}


def completed_per_entity_windows(conn, entities: list[str], windows: tuple[int, ...]) -> dict[int, dict[str, int]]:
    """`completed_per_entity` for several windows (minutes) from one index range scan of the widest."""
    windows = tuple(sorted(set(windows)))
    columns = ", ".join(f"count(*) FILTER (WHERE q.completed_at >= now() - make_interval(mins => :m{i})) AS n{i}"
                        for i in range(len(windows)))
    rows = conn.execute(text(
        f"""
        SELECT e.name, c.*
          FROM unnest(CAST(:entities AS text[])) AS e(name)
          CROSS JOIN LATERAL (SELECT {columns} FROM tds_sync_queue q
                               WHERE q.entity_type = e.name AND q.status = 'completed'
                                 AND q.completed_at >= now() - make_interval(mins => :widest)) c
        """
    ), {"entities": entities, "widest": windows[-1], **{f"m{i}": m for i, m in enumerate(windows)}}).mappings()
    out: dict[int, dict[str, int]] = {m: {} for m in windows}
    for r in rows:
        for i, m in enumerate(windows):
            out[m][r["name"]] = int(r[f"n{i}"])
    return out


def completions_by_minute(conn, entities: list[str], minutes: int = 60) -> dict[str, dict[str, int]]:
    """Entity -> ISO minute -> completions, over the last `minutes`."""
    rows = conn.execute(text(
        """
        SELECT e.name, date_trunc('minute', q.completed_at) AS minute, count(*) AS n
          FROM unnest(CAST(:entities AS text[])) AS e(name)
          CROSS JOIN LATERAL (SELECT completed_at FROM tds_sync_queue
                               WHERE entity_type = e.name AND status = 'completed'
                                 AND completed_at >= date_trunc('minute', now()) - make_interval(mins => :m - 1)) q
         GROUP BY 1, 2
        """
    ), {"entities": entities, "m": minutes})
    out: dict[str, dict[str, int]] = {}
    for r in rows:
        out.setdefault(r.name, {})[r.minute.isoformat()] = int(r.n)
    return out


def completion_history(conn, entities: list[str], hours: int = 6, bucket_minutes: int = 10) -> list[dict[str, Any]]:
    """Completions per bucket over the last `hours` (every bucket present, zeros included).

    Buckets are `date_bin` from the Unix epoch (the same edges as flooring epoch seconds,
    without computing a numeric epoch for every row: 5× cheaper on a busy 6 hours).
    """
    bucket = bucket_minutes * 60
    rows = conn.execute(text(
        """
        WITH b AS (
            SELECT date_bin(make_interval(secs => :bucket), q.completed_at, timestamptz 'epoch') AS bucket_start,
                   count(*) AS n
              FROM unnest(CAST(:entities AS text[])) AS e(name)
              CROSS JOIN LATERAL (SELECT completed_at FROM tds_sync_queue
                                   WHERE entity_type = e.name AND status = 'completed'
                                     AND completed_at >= date_bin(make_interval(secs => :bucket), now(), timestamptz 'epoch')
                                                        - make_interval(hours => :hours)) q
             GROUP BY 1
        )
        SELECT g.bucket_start, COALESCE(b.n, 0) AS n
          FROM generate_series(date_bin(make_interval(secs => :bucket), now(), timestamptz 'epoch')
                                 - make_interval(hours => :hours),
                               now(), make_interval(secs => :bucket)) AS g(bucket_start)
          LEFT JOIN b ON b.bucket_start = g.bucket_start
         ORDER BY g.bucket_start
        """
    ), {"entities": entities, "hours": hours, "bucket": bucket})
    return [{"t": r.bucket_start.isoformat(), "completed": int(r.n)} for r in rows]


def latency(conn, entities: list[str], minutes: int = 60) -> dict[str, Any]:
    """Receipt -> completion (`created_at` -> `completed_at`) percentiles over recent completions."""
    r = conn.execute(text(
        """
        SELECT count(*) AS n,
               percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM q.completed_at - q.created_at)) AS p50,
               percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM q.completed_at - q.created_at)) AS p95
          FROM unnest(CAST(:entities AS text[])) AS e(name)
          CROSS JOIN LATERAL (SELECT completed_at, created_at FROM tds_sync_queue
                               WHERE entity_type = e.name AND status = 'completed'
                                 AND completed_at >= now() - make_interval(mins => :m)) q
        """
    ), {"entities": entities, "m": minutes}).one()
    rnd = (lambda v: None if v is None else round(float(v), 3))
    return {"window_minutes": minutes, "samples": int(r.n), "p50_seconds": rnd(r.p50), "p95_seconds": rnd(r.p95)}


def received_since(conn, minutes: int) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM tds_sync_queue WHERE created_at >= now() - make_interval(mins => :m)"), {"m": minutes}
    ).scalar())


def dead_lettered_since(conn, minutes: int) -> int:
    return int(conn.execute(text(
        "SELECT count(*) FROM tds_dead_letter_queue WHERE failed_at >= now() - make_interval(mins => :m)"),
        {"m": minutes}).scalar())


def metric_series(conn, name: str, hours: int = 6) -> list[dict[str, Any]]:
    """A global series written by `monitor.snapshot` (`ix_tds_metrics_name_time`)."""
    rows = conn.execute(text(
        "SELECT recorded_at, value FROM tds_metrics WHERE name = :n AND entity_type IS NULL "
        "AND recorded_at >= now() - make_interval(hours => :h) ORDER BY recorded_at"), {"n": name, "h": hours})
    return [{"t": r.recorded_at.isoformat(), "value": r.value} for r in rows]


def failure_rate(completed: int, dead: int) -> float | None:
    """Dead-lettered / (applied + dead-lettered) over the same window; None when nothing finished."""
    total = completed + dead
    return round(dead / total, 4) if total else None


# --------------------------------------------------------------------------- probes

def coordination():
    """The coordination store (`REDIS_URL`, `models.coord`) with short timeouts: a health probe must not hang."""
    from models import coord

    return coord.quick_client()


broker_redis = coordination
"""Former name, kept for callers: it was always the shared Redis, which is no longer the broker's."""


def broker_connection(timeout: float = BROKER_TIMEOUT_SECONDS):
    """A fresh kombu connection to the configured broker (Redis, RabbitMQ, …) with a short connect timeout."""
    from tasks import app

    return app.connection_for_write(url=get_settings().broker_url, connect_timeout=timeout)


def queue_depths(queues: list[str] | tuple[str, ...], timeout: float = BROKER_TIMEOUT_SECONDS) -> dict[str, int | None]:
    """Messages ready in each queue, through kombu's public passive `queue_declare` (any broker).

    A queue the broker does not know is `None` (RabbitMQ answers 404 and closes the channel:
    the next queue gets a new one). Raises the broker's error when it cannot be reached.
    """
    out: dict[str, int | None] = {}
    with broker_connection(timeout) as conn:
        conn.ensure_connection(max_retries=1, timeout=timeout)
        channel = conn.channel()
        try:
            for queue in queues:
                try:
                    out[queue] = int(channel.queue_declare(queue=queue, passive=True).message_count)
                except conn.channel_errors:
                    out[queue] = None
                    with contextlib.suppress(Exception):  # the broker already closed it
                        channel.close()
                    channel = conn.channel()
        finally:
            with contextlib.suppress(Exception):
                channel.close()
    return out


def check_database(snap: Snapshot) -> None:
    try:
        with get_engine().connect() as conn:
            conn.execute(text("SELECT 1"))
        snap.database_ok = True
        snap.add(Check("database", "reachable", {"emergency": "unreachable"}, "healthy", "PostgreSQL answers"))
    except SQLAlchemyError as e:
        snap.add(Check("database", "unreachable", {"emergency": "unreachable"}, "emergency",
                       f"PostgreSQL does not answer ({type(e).__name__}): nothing can be recorded or applied"))


def check_broker(snap: Snapshot) -> None:
    """Connect to the broker through kombu (any transport): unreachable is an emergency."""
    threshold = {"emergency": "unreachable"}
    kind = broker_kind(get_settings().broker_url)
    try:
        with broker_connection() as conn:
            conn.ensure_connection(max_retries=1, timeout=BROKER_TIMEOUT_SECONDS)
        snap.broker_ok = True
        snap.add(Check("broker", "reachable", threshold, "healthy", f"the {kind} broker accepts connections"))
    except Exception as e:  # noqa: BLE001 - kombu raises the transport's own errors; any is "unreachable"
        snap.add(Check("broker", "unreachable", threshold, "emergency",
                       f"the {kind} broker does not answer ({type(e).__name__}): no event can be delivered to a worker"))


def broker_kind(url: str | None) -> str:
    """`Redis`, `RabbitMQ` or the URL's scheme: for messages only (never the URL, which may hold a password)."""
    scheme = (url or "").split("://", 1)[0].lower()
    if scheme.startswith(("redis", "rediss", "sentinel", "unix")):
        return "Redis"
    if scheme.startswith(("amqp", "pyamqp", "amqps", "librabbitmq")):
        return "RabbitMQ"
    return scheme or "unknown"


def check_coordination(snap: Snapshot) -> None:
    """The coordination store answers PING: without it no Zoho call (rate limiter, token) can be made."""
    from models.coord import CoordinationNotConfigured

    threshold = {"critical": "unreachable or not configured"}
    try:
        coordination().ping()
    except CoordinationNotConfigured as e:
        snap.add(Check("coordination", "not configured", threshold, "critical", str(e)))
        return
    except Exception as e:  # noqa: BLE001 - redis-py's and the socket's errors alike
        snap.add(Check("coordination", "unreachable", threshold, "critical",
                       f"the coordination Redis does not answer ({type(e).__name__}): no Zoho call can be made"))
        return
    snap.coordination_ok = True
    snap.add(Check("coordination", "reachable", threshold, "healthy", "the coordination Redis answers PING"))


def _unavailable(snap: Snapshot, names: list[str], why: str) -> None:
    for name in names:
        snap.add(Check(name, None, None, UNKNOWN, why))


def check_queue(snap: Snapshot) -> None:
    """pending / failed / dead_letters / sync_delay.<entity> / sync_stopped, from one short transaction."""
    names = ["pending", "failed", "dead_letters", "sync_stopped"] + [f"sync_delay.{e}" for e in entity_list()]
    if not snap.database_ok:
        _unavailable(snap, names, "database unreachable")
        return
    try:
        with get_engine().begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = '5s'"))
            snap.counts = queue_counts(conn)
            entities = entity_list(list(snap.counts))
            snap.entities = entity_progress(conn, entities)
            snap.dead_letters = unresolved_dead_letters(conn)
    except SQLAlchemyError as e:
        snap.database_ok = False
        snap.add(Check("database", "unreachable", {"emergency": "unreachable"}, "emergency",
                       f"PostgreSQL failed a health query ({type(e).__name__})"))
        _unavailable(snap, names, "database unreachable")
        return

    def total(status: str) -> int:
        return sum(c.get(status, 0) for c in snap.counts.values())

    pending, failed = total("pending"), total("failed")
    snap.add(Check("pending", pending, PENDING, graded(pending, PENDING), f"{pending} event(s) waiting for a worker"))
    snap.add(Check("failed", failed, FAILED, graded(failed, FAILED), f"{failed} event(s) failed and awaiting a retry"))
    dead = snap.dead_letters
    snap.add(Check("dead_letters", dead, DEAD_LETTERS, graded(dead, DEAD_LETTERS),
                   f"{dead} unresolved dead letter(s) need a person"))
    worst_name, worst_stop = None, 0.0
    for name, info in snap.entities.items():
        delay = info["delay_seconds"]
        verdict = graded(delay, DELAY_SECONDS)
        last = human_seconds(info["last_sync_age_seconds"])
        last_text = "never synced" if info["last_sync"] is None else f"last applied {last} ago"
        message = (f"oldest waiting change received {human_seconds(delay)} ago; {last_text}" if delay
                   else f"nothing waiting; {last_text}")
        snap.add(Check(f"sync_delay.{name}", int(delay), DELAY_SECONDS, verdict, message, "seconds"))
        if info["stopped_seconds"] > worst_stop:
            worst_name, worst_stop = name, info["stopped_seconds"]
    message = ("every entity with waiting work is moving" if worst_name is None
               else f"{worst_name}: nothing applied for {human_seconds(worst_stop)} while work waits")
    snap.add(Check("sync_stopped", int(worst_stop), STOPPED_SECONDS, graded(worst_stop, STOPPED_SECONDS), message,
                   "seconds"))


def probe_workers(timeout: float | None = None, full: bool = False) -> dict[str, list[str]]:
    """Worker name -> the queues it consumes (`inspect().active_queues()`, a ping that also names queues).

    Celery's public inspect API over the broker's broadcast: the same on Redis and RabbitMQ.
    A broadcast waits its whole timeout unless told how many answers to expect, so the
    quick probe stops at the number of workers the last full probe found (kept in the
    coordination store; without it every probe waits its timeout); the full probe
    (`monitor.snapshot`) waits the timeout and records that number.
    """
    from tasks import app

    timeout = WORKER_TIMEOUT_SECONDS if timeout is None else timeout
    expected = None
    if not full:
        try:
            raw = coordination().get(WORKER_COUNT)
            expected = int(raw) if raw and int(raw) > 0 else None
        except coord.ERRORS:
            expected = None
    replies = app.control.inspect(timeout=timeout, limit=expected).active_queues() or {}
    workers = {name: sorted(q["name"] for q in queues or []) for name, queues in replies.items()}
    if full or (expected is None and workers):
        try:
            coordination().set(WORKER_COUNT, len(workers), ex=3600)
        except coord.ERRORS:
            pass
    return workers


_probe_lock = threading.Lock()
_probe_cache: dict[str, tuple[float, dict[str, list[str]]]] = {}  # broker url -> (epoch, workers): the fallback
_probe_refreshing: set[str] = set()
PROBE_STALE_LIMIT_SECONDS = 60.0
"""An older remembered probe is never shown; the dashboard probes again while the viewer waits."""


def forget_probes() -> None:
    """Drop the remembered worker probes, this process's and the shared one (tests; a broker switched)."""
    with _probe_lock:
        _probe_cache.clear()
    try:
        coordination().delete(WORKER_PROBE, WORKER_COUNT)
    except coord.ERRORS:
        pass


def _remember_probe(url: str, workers: dict[str, list[str]]) -> None:
    """Keep the answer for every process (coordination store) and, as a fallback, for this one."""
    now = time.time()
    with _probe_lock:
        _probe_cache[url] = (now, workers)
    try:
        coordination().set(WORKER_PROBE, json.dumps({"broker": _url_id(url), "at": now, "workers": workers}),
                           ex=int(PROBE_STALE_LIMIT_SECONDS) + 5)
    except coord.ERRORS:
        pass


def _remembered_probe(url: str) -> tuple[float, dict[str, list[str]]] | None:
    """The freshest remembered answer for this broker: the fleet's (shared) or this process's own."""
    with _probe_lock:
        local = _probe_cache.get(url)
    shared = None
    try:
        raw = coordination().get(WORKER_PROBE)
        if raw:
            data = json.loads(raw)
            if data.get("broker") == _url_id(url):
                shared = (float(data["at"]), {k: list(v) for k, v in data["workers"].items()})
    except (coord.ERRORS + (ValueError, KeyError, TypeError)):
        shared = None
    found = [hit for hit in (local, shared) if hit is not None]
    return max(found, key=lambda hit: hit[0]) if found else None


def _url_id(url: str) -> str:
    """A digest naming the broker in the shared probe (the URL may carry a password)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def _probe_with_fallback(timeout: float | None, full: bool) -> dict[str, list[str]]:
    workers = probe_workers(timeout, full=full)
    if not full and workers and set(canary_queues()) - {q for queues in workers.values() for q in queues}:
        workers = probe_workers(timeout, full=True)  # the quick probe may have stopped before a newcomer
    _remember_probe(get_settings().broker_url, workers)
    return workers


def _refresh_in_background(url: str, timeout: float | None) -> None:
    with _probe_lock:
        if url in _probe_refreshing:
            return
        _probe_refreshing.add(url)

    def run():
        try:
            _probe_with_fallback(timeout, False)
        except Exception:  # noqa: BLE001 - the next synchronous probe reports the trouble
            log.debug("background worker probe failed", exc_info=True)
        finally:
            with _probe_lock:
                _probe_refreshing.discard(url)

    threading.Thread(target=run, name="worker-probe", daemon=True).start()


def workers_answering(timeout: float | None = None, full: bool = False, max_age: float = 0.0) -> dict[str, list[str]]:
    """The worker probe, or — with `max_age` — a recent answer of any process (shared in the coordination store).

    A probe costs ~12 ms with workers answering and its whole timeout (1 s) with none, on
    every dashboard view. With `max_age`, an answer at most that old is reused; an older one
    (up to `PROBE_STALE_LIMIT_SECONDS`) is shown while a background probe replaces it, so a
    page never waits on the broadcast unless no process has a recent answer at all.
    """
    if max_age > 0 and not full:
        url = get_settings().broker_url
        hit = _remembered_probe(url)
        if hit is not None:
            age = time.time() - hit[0]
            if 0 <= age <= PROBE_STALE_LIMIT_SECONDS:
                if age > max_age:
                    _refresh_in_background(url, timeout)
                return hit[1]
    return _probe_with_fallback(timeout, full)


def canary_queues() -> list[str]:
    """The queues a canary is sent through: maintenance and one per entity (bulk tasks run for minutes)."""
    from zoho.entities import registry

    return ["maintenance"] + [e.queue for e in registry().values()]


def check_workers(snap: Snapshot, timeout: float | None = None, full: bool = False, max_age: float = 0.0) -> None:
    """Workers answer, every canaried queue has a consumer, and each consumer really consumes.

    A worker can answer a ping yet consume nothing after a Redis reconnect (celery#10302),
    so a canary (`monitor.canary`, sent by `monitor.snapshot`) must come back through each
    consumed queue. A canary stuck behind a real backlog is not a failure while that
    entity's events keep completing.
    """
    threshold = {"warning": "a queue has no consumer", "critical": "no worker answers, or a queue consumes nothing"}
    if not snap.broker_ok:
        snap.add(Check("workers", None, threshold, UNKNOWN, "broker unreachable: workers cannot be asked"))
        return
    try:
        workers = workers_answering(timeout, full=full, max_age=max_age)
    except Exception as e:  # noqa: BLE001 - any broker trouble makes this check unknown, never a crash
        snap.add(Check("workers", None, threshold, UNKNOWN, f"workers could not be asked ({type(e).__name__})"))
        return
    try:  # canaries live in the coordination store; without it only the answers are judged
        sent = {(k.decode() if isinstance(k, bytes) else k): float(v)
                for k, v in coordination().hgetall(CANARY_SENT).items()}
    except coord.ERRORS:
        sent = {}
    consumed = {q for queues in workers.values() for q in queues}
    snap.workers = {"answering": sorted(workers), "queues": workers}
    if not workers:
        snap.add(Check("workers", 0, threshold, "critical", "no Celery worker answers"))
        return
    now = time.time()
    stuck = []
    for queue in canary_queues():
        since = sent.get(queue)
        if queue not in consumed or since is None or now - since <= CANARY_TIMEOUT_SECONDS:
            continue
        entity = queue.removeprefix("sync.") if queue.startswith("sync.") else None
        last = snap.entities.get(entity, {}).get("last_sync") if entity else None
        if last is not None and last.timestamp() >= since:
            continue  # behind a backlog, but the queue moves
        stuck.append(f"{queue} ({human_seconds(now - since)})")
    unconsumed = [q for q in canary_queues() if q not in consumed]
    if stuck:
        snap.add(Check("workers", len(workers), threshold, "critical",
                       f"{len(workers)} worker(s) answer, but these queues consume nothing: {', '.join(stuck)}"))
    elif unconsumed:
        snap.add(Check("workers", len(workers), threshold, "warning",
                       f"{len(workers)} worker(s) answer; no worker consumes {', '.join(unconsumed)}"))
    else:
        snap.add(Check("workers", len(workers), threshold, "healthy",
                       f"{len(workers)} worker(s) answer and consume every queue"))


def check_zoho(snap: Snapshot) -> None:
    """Token expiry and API budget left; informational at most `warning` (the contract sets no threshold)."""
    token_threshold = {"warning": "Zoho refused the OAuth credentials"}
    if not snap.coordination_ok:  # both live in the coordination Redis; asking would only wait on its timeouts
        snap.add(Check("zoho_token", None, token_threshold, UNKNOWN, "coordination Redis unreachable: token unknown"))
        snap.add(Check("zoho_budget", None, {"warning": "daily budget exhausted"}, UNKNOWN,
                       "coordination Redis unreachable: API budget unknown"))
        return
    try:
        from zoho.oauth import TokenManager

        status = TokenManager().token_status()
    except Exception as e:  # noqa: BLE001 - an absent or failing module is `unknown`, never a crash
        snap.add(Check("zoho_token", None, token_threshold, UNKNOWN, f"token status unavailable ({type(e).__name__})"))
    else:
        if not status.get("configured"):
            snap.add(Check("zoho_token", None, token_threshold, UNKNOWN,
                           "no Zoho OAuth credentials configured (sandbox mode)"))
        elif status.get("error"):
            snap.add(Check("zoho_token", None, token_threshold, UNKNOWN, "token cache unavailable"))
        elif status.get("blocked") == "auth":
            snap.add(Check("zoho_token", status.get("seconds_left"), token_threshold, "warning",
                           "Zoho refused the OAuth credentials: no call can be made until they are fixed", "seconds"))
        elif not status.get("cached"):
            snap.add(Check("zoho_token", None, token_threshold, "healthy",
                           "no access token cached yet (one is fetched on the first call)"))
        else:
            left = status.get("seconds_left")
            snap.add(Check("zoho_token", left, token_threshold, "healthy",
                           f"access token valid for {human_seconds(left)}"
                           + (" (refresh rate-limited by Zoho)" if status.get("blocked") else ""), "seconds"))

    budget_threshold = {"warning": "daily budget exhausted"}
    try:
        status = zoho_budget()
    except Exception as e:  # noqa: BLE001
        snap.add(Check("zoho_budget", None, budget_threshold, UNKNOWN,
                       f"API budget unavailable ({type(e).__name__})"))
        return
    left = status.get("left_today")
    if left is None:
        snap.add(Check("zoho_budget", None, budget_threshold, "healthy", "no daily budget configured"))
        return
    verdict = "warning" if left <= 0 else "healthy"
    message = f"{left} of {status.get('daily_budget')} API calls left today"
    if status.get("paused_for"):
        message += f"; Zoho asked for a pause of {status['paused_for']:.0f} s"
    snap.add(Check("zoho_budget", left, budget_threshold, verdict, message))


def zoho_budget() -> dict[str, Any]:
    """`zoho.ratelimit`'s budget status, whichever spelling that module offers."""
    import zoho.ratelimit as rl

    if hasattr(rl, "budget_status"):
        return rl.budget_status()
    return rl.RateLimiter().budget_status()


def zoho_token_status() -> dict[str, Any] | None:
    try:
        from zoho.oauth import TokenManager

        return TokenManager().token_status()
    except Exception:  # noqa: BLE001
        return None


def evaluate(*, workers: bool = True, full_probe: bool = False,
             worker_timeout: float | None = None, zoho: bool = True, worker_max_age: float = 0.0) -> Snapshot:
    """Look at everything once; never raises (each failure is a verdict).

    `worker_max_age`: reuse this process's worker probe when at most that many seconds old
    (see `workers_answering`); 0 probes every time.
    """
    snap = Snapshot()
    check_database(snap)
    check_broker(snap)
    check_coordination(snap)
    check_queue(snap)
    if workers:
        check_workers(snap, worker_timeout, full=full_probe, max_age=worker_max_age)
    if zoho:
        check_zoho(snap)
    check_operations(snap, budget=zoho)
    return snap


# The seeds' extra thresholds: an operator's early warnings, below CONTRACT §7's levels.
BUDGET_USED_PCT = {"warning": 90}
PROCESSING_RATE_MIN = 10  # items/min; graded only while work waits
RATE_WINDOW_MINUTES = 10
STUCK_LOCK_SECONDS = {"warning": 30 * 60, "critical": 2 * 3600}


def check_operations(snap: Snapshot, budget: bool = True) -> None:
    """api_budget_used (% of the day's calls), processing_rate (items/min while work waits), stuck_locks (age)."""
    if budget and snap.broker_ok:
        try:
            status = zoho_budget()
        except Exception as e:  # noqa: BLE001 - unknown, never a crash
            snap.add(Check("api_budget_used", None, BUDGET_USED_PCT, UNKNOWN, f"API budget unavailable ({type(e).__name__})"))
        else:
            total, used = status.get("daily_budget") or 0, status.get("used_today") or 0
            pct = round(used * 100 / total, 1) if total > 0 else None
            snap.add(Check("api_budget_used", pct, BUDGET_USED_PCT, graded(pct, BUDGET_USED_PCT),
                           f"{used} of {total} API calls used today" if pct is not None else "no daily budget configured"))
    if not snap.database_ok:
        return
    try:
        with get_engine().begin() as conn:
            conn.execute(text("SET LOCAL statement_timeout = '5s'"))
            done = sum(completed_per_entity(conn, entity_list(list(snap.counts)), RATE_WINDOW_MINUTES).values())
            oldest = conn.execute(text(
                "SELECT extract(epoch FROM now() - min(updated_at)) FROM tds_sync_queue WHERE status = 'processing'"
            )).scalar()
    except SQLAlchemyError as e:
        snap.add(Check("processing_rate", None, {"warning": f"< {PROCESSING_RATE_MIN}/min while work waits"}, UNKNOWN,
                       f"query failed ({type(e).__name__})"))
        return
    rate = round(done / RATE_WINDOW_MINUTES, 1)
    waiting = sum(c.get("pending", 0) + c.get("failed", 0) for c in snap.counts.values())
    # "While work waits": something has waited longer than the window the rate is measured over,
    # so a burst that just arrived (CONTRACT's 50-pending threshold covers it) is not called slow.
    waited = max((e["delay_seconds"] for e in snap.entities.values()), default=0.0)
    slow = waiting > 0 and waited > RATE_WINDOW_MINUTES * 60 and rate < PROCESSING_RATE_MIN
    snap.add(Check("processing_rate", rate, {"warning": f"< {PROCESSING_RATE_MIN}/min while work waits"},
                   "warning" if slow else "healthy",
                   f"{rate} item(s)/min over {RATE_WINDOW_MINUTES} min; {waiting} waiting"))
    age = float(oldest) if oldest is not None else 0.0
    snap.add(Check("stuck_locks", int(age), STUCK_LOCK_SECONDS, graded(age, STUCK_LOCK_SECONDS),
                   f"oldest claimed event held for {human_seconds(age)}" if oldest is not None
                   else "no event is claimed", "seconds"))


def health_report(**kwargs) -> dict[str, Any]:
    """The JSON verdict (`GET /api/zoho/dashboard/health`, `zohosync health --json`)."""
    return evaluate(**kwargs).report()


def exit_code(status: str) -> int:
    """0/1/2 for healthy / degraded (warning) / unhealthy (critical, emergency); see `exit_code_for`."""
    return min(RANK.get(status, 2), 2)


EXIT_CODES = {0: "healthy", 1: "degraded (warning)", 2: "unhealthy (critical or emergency)",
              3: "unreachable (database or broker)"}
"""One vocabulary for the README, `zohosync health` and a supervisor reading the exit status."""


def exit_code_for(report: dict[str, Any]) -> int:
    """The exit status of a health report: 3 only when the database or the broker cannot be reached."""
    checks = report.get("checks", {})
    if any((checks.get(n) or {}).get("value") == "unreachable" for n in ("database", "broker")):
        return 3
    return exit_code(report.get("status", "critical"))

"""`monitor.snapshot` (every minute on beat): metrics into `tds_metrics`, alerts in `tds_alerts`, canaries through every queue.

Alerts have hysteresis so they do not flap, and it counts time, not runs: an alert is
raised only once its check has been non-healthy for at least `HOLD_SECONDS` (at the
severity it held through all of that time) and cleared only once the check has been
healthy for as long. Two snapshots a few seconds apart (a second beat, a manual run) are
one moment, not a condition that held. An `unknown` verdict neither raises nor clears.
Each check's level is itself stored as a metric (`check:<name>`, with its time), so the
streaks survive restarts and need no other state. The monitor
owns the alerts named `health.<check>`; `heal.check_workers` keeps its own `workers` alert.

When `ALERT_WEBHOOK_URL` is set, every raise, change of severity and clear is POSTed as a
Slack-compatible `{"text": …}` (5 s timeout); a failed notification is logged and never
fails the snapshot. Messages carry check names and numbers only — never a secret, and the
webhook URL (itself a credential for Slack) is never logged.
"""
from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import requests
from sqlalchemy import text

from models import coord
from models.db import session_scope
from models.settings import get_settings
from tasks import app
from tasks.health import (
    CANARY_DONE,
    CANARY_PUBLISHED,
    CANARY_SENT,
    CANARY_TIMEOUT_SECONDS,
    KEY_PREFIX,
    LEVELS,
    RANK,
    Snapshot,
    canary_queues,
    completed_per_entity,
    coordination,
    dead_lettered_since,
    entity_list,
    evaluate,
    failure_rate,
    latency,
    received_since,
)
from tasks.publish import BROKER_ERRORS

log = logging.getLogger(__name__)

HOLD_SECONDS = 50
"""How long a condition must hold before its alert is raised, or be gone before it is cleared.

Snapshots run every minute, so a condition seen by two consecutive snapshots is raised —
but never by two snapshots taken within the same minute."""
LOOKBACK_MINUTES = 60
"""How far back a streak is read; a streak longer than this is simply "long enough"."""

ALERT_PREFIX = "health."
RATE_WINDOW_MINUTES = 5
NOTIFY_TIMEOUT_SECONDS = 5
DATABASE_DOWN_NOTICE = f"{KEY_PREFIX}notified:database_down"
CANARY_EXPIRES_SECONDS = 600
METRICS_RETENTION_DAYS = 14
PRUNE_BATCH = 5000

# Compare-and-delete: a canary clears the outstanding mark only if it was sent no earlier.
_CANARY_DONE_LUA = """
local s = redis.call('HGET', KEYS[1], ARGV[1])
if s and tonumber(s) <= tonumber(ARGV[2]) then redis.call('HDEL', KEYS[1], ARGV[1]) end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""


def level_value(verdict: str) -> float:
    return float(RANK.get(verdict, -1))


@dataclass
class Transition:
    kind: str  # raised | changed | cleared
    check: str
    severity: str
    message: str
    alert_id: int


# --------------------------------------------------------------------------- canaries

@app.task(name="monitor.canary", ignore_result=True, acks_late=False, soft_time_limit=10, time_limit=20)
def canary(queue: str, sent_at: float) -> None:
    """Prove that a worker consumes `queue`: mark the canary sent at `sent_at` as come back."""
    r = coordination()
    r.eval(_CANARY_DONE_LUA, 2, CANARY_SENT, CANARY_DONE, queue, repr(float(sent_at)), repr(time.time()))


def send_canaries(queues: Iterable[str]) -> list[str]:
    """Publish a canary through each queue that has none outstanding (or whose last one is overdue).

    At most one canary per queue is in flight per `CANARY_TIMEOUT_SECONDS`, so a queue whose
    consumer is gone does not fill up with them; a lost one is re-sent after the timeout
    while the oldest unconsumed send time is kept (that age is what `tasks.health` judges).
    """
    r = coordination()
    sent = []
    for queue in queues:
        now = time.time()
        fresh = r.hsetnx(CANARY_SENT, queue, repr(now))
        last = r.hget(CANARY_PUBLISHED, queue)
        if fresh or last is None or now - float(last) > CANARY_TIMEOUT_SECONDS:
            app.send_task("monitor.canary", args=[queue, now], queue=queue, routing_key=queue,
                          expires=CANARY_EXPIRES_SECONDS)
            r.hset(CANARY_PUBLISHED, queue, repr(now))
            sent.append(queue)
    return sent


# --------------------------------------------------------------------------- metrics

def metric_rows(snap: Snapshot, conn) -> list[dict[str, Any]]:
    """The numbers one snapshot records: (name, entity_type, value)."""
    rows: list[tuple[str, str | None, float]] = [("status", None, level_value(snap.status))]
    totals: dict[str, int] = {}
    for counts in snap.counts.values():
        for status, n in counts.items():
            totals[status] = totals.get(status, 0) + n
    for status in ("pending", "processing", "failed", "dead"):
        rows.append((status, None, float(totals.get(status, 0))))
        for entity, counts in snap.counts.items():
            rows.append((status, entity, float(counts.get(status, 0))))
    if snap.dead_letters is not None:
        rows.append(("dead_letters", None, float(snap.dead_letters)))
    entities = entity_list(list(snap.counts))
    completed = completed_per_entity(conn, entities, RATE_WINDOW_MINUTES)
    rows.append(("processing_rate", None, sum(completed.values()) / RATE_WINDOW_MINUTES))
    for entity, n in completed.items():
        rows.append(("processing_rate", entity, n / RATE_WINDOW_MINUTES))
    rows.append(("received_rate", None, received_since(conn, RATE_WINDOW_MINUTES) / RATE_WINDOW_MINUTES))
    lat = latency(conn, entities, 60)
    if lat["p50_seconds"] is not None:
        rows.append(("latency_p50_seconds", None, lat["p50_seconds"]))
        rows.append(("latency_p95_seconds", None, lat["p95_seconds"]))
    hour_done = completed_per_entity(conn, entities, 60)
    rate = failure_rate(sum(hour_done.values()), dead_lettered_since(conn, 60))
    if rate is not None:
        rows.append(("failure_rate", None, rate))
    for entity, info in snap.entities.items():
        rows.append(("sync_delay_seconds", entity, float(info["delay_seconds"])))
    if snap.workers:
        rows.append(("workers", None, float(len(snap.workers.get("answering", [])))))
    for name in ("zoho_budget", "zoho_token"):
        check = snap.checks.get(name)
        if check is not None and isinstance(check.value, (int, float)):
            rows.append((f"{name}_left", None, float(check.value)))
    for name, check in snap.checks.items():
        rows.append((f"check:{name}"[:64], None, level_value(check.verdict)))
    return [{"name": n, "entity": e, "value": v} for n, e, v in rows]


def prune_metrics(conn, days: int = METRICS_RETENTION_DAYS) -> int:
    """Drop metrics older than `days`, oldest first, a bounded batch per snapshot.

    A snapshot writes about a hundred rows a minute; looking only at the oldest ids keeps
    the work constant whether or not anything is old enough to go.
    """
    return conn.execute(text(
        "DELETE FROM tds_metrics WHERE id IN (SELECT id FROM tds_metrics ORDER BY id LIMIT :batch) "
        "AND recorded_at < now() - make_interval(days => :days)"), {"batch": PRUNE_BATCH, "days": days}).rowcount


# --------------------------------------------------------------------------- alerts

def streaks(conn, names: list[str]) -> dict[str, dict[str, Any]]:
    """Per check, from its recorded levels (`check:<name>`, unknown ignored) over the last hour.

    `bad_since` / `good_since`: when the current non-healthy / healthy streak began (the
    first such level after the last opposite one), `worst_floor`: the lowest non-healthy
    level within the current bad streak, `now`: the database's clock. Each sub-query is one
    range scan of `ix_tds_metrics_name_time`.
    """
    rows = conn.execute(text(
        """
        WITH c AS (SELECT name, 'check:' || name AS metric FROM unnest(CAST(:names AS text[])) AS c(name)),
        edges AS (
            SELECT c.name, c.metric,
                   (SELECT max(recorded_at) FROM tds_metrics m WHERE m.name = c.metric AND m.entity_type IS NULL
                       AND m.recorded_at >= now() - make_interval(mins => :lookback)
                       AND m.value >= 0 AND m.value < 1) AS last_good,
                   (SELECT max(recorded_at) FROM tds_metrics m WHERE m.name = c.metric AND m.entity_type IS NULL
                       AND m.recorded_at >= now() - make_interval(mins => :lookback) AND m.value >= 1) AS last_bad
              FROM c)
        SELECT e.name, now() AS now, e.last_good, e.last_bad,
               (SELECT min(recorded_at) FROM tds_metrics m WHERE m.name = e.metric AND m.entity_type IS NULL
                   AND m.recorded_at >= now() - make_interval(mins => :lookback) AND m.value >= 1
                   AND m.recorded_at > coalesce(e.last_good, '-infinity')) AS bad_since,
               (SELECT min(value) FROM tds_metrics m WHERE m.name = e.metric AND m.entity_type IS NULL
                   AND m.recorded_at >= now() - make_interval(mins => :lookback) AND m.value >= 1
                   AND m.recorded_at > coalesce(e.last_good, '-infinity')) AS worst_floor,
               (SELECT min(recorded_at) FROM tds_metrics m WHERE m.name = e.metric AND m.entity_type IS NULL
                   AND m.recorded_at >= now() - make_interval(mins => :lookback) AND m.value >= 0 AND m.value < 1
                   AND m.recorded_at > coalesce(e.last_bad, '-infinity')) AS good_since
          FROM edges e
        """
    ), {"names": names, "lookback": LOOKBACK_MINUTES})
    return {r.name: {"now": r.now, "bad_since": r.bad_since, "good_since": r.good_since,
                     "worst_floor": r.worst_floor, "last_good": r.last_good, "last_bad": r.last_bad} for r in rows}


def apply_hysteresis(conn, snap: Snapshot, hold_seconds: float = HOLD_SECONDS) -> list[Transition]:
    """Raise, re-grade or clear `health.<check>` alerts once a level has held for `hold_seconds`."""
    names = list(snap.checks)
    found = streaks(conn, names)
    open_alerts = {
        r.check_name: r for r in conn.execute(text(
            "SELECT id, check_name, severity FROM tds_alerts WHERE cleared_at IS NULL AND check_name LIKE :p"),
            {"p": ALERT_PREFIX + "%"})
    }
    transitions: list[Transition] = []
    for name in names:
        check = snap.checks[name]
        if check.verdict not in RANK:
            continue  # unknown: neither raises nor clears
        alert_name = ALERT_PREFIX + name
        info = found.get(name) or {}
        current = open_alerts.get(alert_name)
        message = f"{name}: {check.message}"
        now = info.get("now")
        if RANK[check.verdict] >= 1:
            since = info.get("bad_since")
            if since is None or (now - since).total_seconds() < hold_seconds:
                continue
            # The severity is the level held through the whole hold time, not a moment's peak.
            severity = LEVELS[int(_held_floor(conn, name, now, hold_seconds) or info["worst_floor"])]
            if current is None:
                row = conn.execute(text(
                    "INSERT INTO tds_alerts (check_name, severity, message, value) VALUES (:c, :s, :m, :v) "
                    "ON CONFLICT (check_name) WHERE cleared_at IS NULL DO NOTHING RETURNING id"),
                    {"c": alert_name, "s": severity, "m": message, "v": _value(check.value)}).first()
                if row is not None:
                    transitions.append(Transition("raised", name, severity, message, row.id))
            else:
                conn.execute(text("UPDATE tds_alerts SET severity = :s, message = :m, value = :v WHERE id = :i"),
                             {"s": severity, "m": message, "v": _value(check.value), "i": current.id})
                if severity != current.severity:
                    transitions.append(Transition("changed", name, severity, message, current.id))
        elif current is not None:
            since = info.get("good_since")
            if since is None or (now - since).total_seconds() < hold_seconds:
                continue
            conn.execute(text("UPDATE tds_alerts SET cleared_at = now() WHERE id = :i AND cleared_at IS NULL"),
                         {"i": current.id})
            transitions.append(Transition("cleared", name, current.severity, message, current.id))
    return transitions


def _held_floor(conn, name: str, now, hold_seconds: float) -> int | None:
    """The highest level L such that the check has been at L or worse for at least `hold_seconds`.

    A check warning for ten minutes and critical for the last few seconds is a warning until
    the critical level itself has held. Levels are few (1–3): one small query per level.
    """
    best = None
    for level in (1, 2, 3):
        r = conn.execute(text(
            """
            SELECT min(recorded_at) AS since FROM tds_metrics m
             WHERE m.name = :metric AND m.entity_type IS NULL
               AND m.recorded_at >= now() - make_interval(mins => :lookback) AND m.value >= :level
               AND m.recorded_at > coalesce((SELECT max(recorded_at) FROM tds_metrics x
                                              WHERE x.name = :metric AND x.entity_type IS NULL
                                                AND x.recorded_at >= now() - make_interval(mins => :lookback)
                                                AND x.value >= 0 AND x.value < :level), '-infinity')
            """), {"metric": f"check:{name}", "lookback": LOOKBACK_MINUTES, "level": level}).one()
        if r.since is not None and (now - r.since).total_seconds() >= hold_seconds:
            best = level
    return best


def _value(value: Any) -> str | None:
    return None if value is None else str(value)[:200]


# --------------------------------------------------------------------------- notifications

_ICONS = {"raised": ":rotating_light:", "changed": ":warning:", "cleared": ":white_check_mark:"}


def notification_text(transitions: list[Transition], status: str) -> str:
    host = socket.gethostname()
    lines = [f"zohosync on {host}: overall {status.upper()}"]
    for t in transitions:
        verb = {"raised": f"{t.severity.upper()} raised", "changed": f"now {t.severity.upper()}",
                "cleared": "cleared"}[t.kind]
        lines.append(f"{_ICONS[t.kind]} {verb} — {t.message}")
    return "\n".join(lines)


def notify(body: str) -> bool:
    """POST `{"text": body}` to ALERT_WEBHOOK_URL; False (logged without the URL) on any failure."""
    url = get_settings().alert_webhook_url
    if not url:
        return False
    try:
        response = requests.post(url, json={"text": body}, timeout=NOTIFY_TIMEOUT_SECONDS)
        if response.status_code >= 300:
            log.warning("alert notification refused with HTTP %s", response.status_code)
            return False
        return True
    except requests.RequestException as e:
        log.warning("alert notification failed: %s", type(e).__name__)
        return False


def _notify_transitions(transitions: list[Transition], status: str) -> None:
    if not transitions or not get_settings().alert_webhook_url:
        return
    if notify(notification_text(transitions, status)):
        with session_scope() as s:
            s.execute(text("UPDATE tds_alerts SET notified_at = now() WHERE id = ANY(:ids)"),
                      {"ids": [t.alert_id for t in transitions]})


def _database_down(snap: Snapshot) -> None:
    """No state can be kept while PostgreSQL is down: notify at most once an hour (via Redis)."""
    log.error("monitor snapshot: database unreachable", extra={"status": snap.status})
    if not get_settings().alert_webhook_url or not snap.coordination_ok:
        return
    try:
        first = coordination().set(DATABASE_DOWN_NOTICE, "1", nx=True, ex=3600)
    except coord.ERRORS:
        return
    if first:
        check = snap.checks.get("database")
        notify(f"zohosync on {socket.gethostname()}: EMERGENCY — {check.message if check else 'database unreachable'}")


# --------------------------------------------------------------------------- the snapshot

def take_snapshot(*, probe_workers: bool = True, canaries: bool = True, zoho: bool = True) -> dict[str, Any]:
    """One look: evaluate, record metrics, apply alert hysteresis, notify, send canaries."""
    snap = evaluate(workers=probe_workers, full_probe=True, zoho=zoho)
    transitions: list[Transition] = []
    if not snap.database_ok:
        _database_down(snap)
    else:
        with session_scope() as s:
            conn = s.connection()
            # Serialise snapshots: two at once would each see the other's half-written streak.
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext('monitor.snapshot'))"))
            rows = metric_rows(snap, conn)
            conn.execute(text("INSERT INTO tds_metrics (name, entity_type, value) VALUES (:name, :entity, :value)"),
                         rows)
            transitions = apply_hysteresis(conn, snap)
            prune_metrics(conn)
        for t in transitions:
            log.warning("alert %s: %s", t.kind, t.message, extra={"status": t.severity})
        _notify_transitions(transitions, snap.status)
    sent: list[str] = []
    if canaries and probe_workers and snap.broker_ok and snap.coordination_ok and snap.workers:
        consumed = {q for queues in snap.workers.get("queues", {}).values() for q in queues}
        try:
            sent = send_canaries(q for q in canary_queues() if q in consumed)
        except BROKER_ERRORS + coord.ERRORS as e:
            log.warning("canaries not sent: %s", type(e).__name__)
    report = snap.report()
    report["alerts"] = [{"kind": t.kind, "check": t.check, "severity": t.severity} for t in transitions]
    report["canaries_sent"] = sent
    return report


@app.task(name="monitor.snapshot", ignore_result=True, soft_time_limit=50, time_limit=58)
def snapshot() -> dict[str, Any]:
    """Every minute on beat: see `take_snapshot`."""
    report = take_snapshot()
    log.info("monitor snapshot: %s", report["status"], extra={"status": report["status"]})
    return {"status": report["status"], "alerts": report["alerts"], "canaries_sent": report["canaries_sent"]}

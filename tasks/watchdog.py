"""The worker watchdog: find a worker that is alive but no longer consuming, and end it so its supervisor restarts it.

A Celery worker can stay alive yet stop consuming (celery#10302, after a broker reconnect):
it answers a ping, but the events of its queues sit pending. The definition used here reads
only the queue mirror and Celery's public inspect API:

- a worker is *stuck* when it answers, has been up longer than the window (15 minutes),
  the mirror holds pending events of its queues' entities received more than the window
  ago, and nothing of those entities was completed within the window;
- workers whose queues carry no mirror rows (bulk, maintenance) are judged alive by their
  answer alone.

`zohosync probe worker NAME` turns that into an exit status for systemd or a Kubernetes
liveness probe; `zohosync watchdog` loops over every worker and sends a stuck one's main
process SIGTERM (then SIGKILL after a grace period), so whatever runs it (the stack's
process runner, systemd, Kubernetes) starts a fresh one.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import socket
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import text

from models.db import get_engine

log = logging.getLogger(__name__)

WINDOW_SECONDS = 15 * 60
INSPECT_TIMEOUT = 2.0

ALIVE, STUCK, ABSENT, UNREACHABLE = "alive", "stuck", "absent", "unreachable"
PROBE_EXIT = {ALIVE: 0, STUCK: 1, ABSENT: 2, UNREACHABLE: 3}
"""`zohosync probe worker` exit status: 0 alive and consuming, 1 stuck, 2 not answering, 3 broker/database down."""


@dataclass
class Liveness:
    worker: str
    status: str
    queues: list[str] = field(default_factory=list)
    pid: int | None = None
    uptime_seconds: float | None = None
    old_pending: int = 0
    last_completed_at: str | None = None
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _inspect(destination: list[str] | None = None):
    from tasks import app

    return app.control.inspect(destination=destination, timeout=INSPECT_TIMEOUT)


def find_workers(name: str | None = None) -> dict[str, list[str]]:
    """Worker name → queues it consumes (public `inspect().active_queues()`); `name` may omit the `@host` part."""
    replies = _inspect().active_queues() or {}
    found = {w: sorted(q["name"] for q in queues or []) for w, queues in replies.items()}
    if name is None:
        return found
    return {w: qs for w, qs in found.items() if w == name or w.split("@", 1)[0] == name}


def entities_of(queues: list[str]) -> list[str]:
    """The entities whose events a worker's queues carry (`sync.<entity>`)."""
    from zoho.entities import registry

    names = set(registry())
    return sorted(q.removeprefix("sync.") for q in queues if q.startswith("sync.") and q.removeprefix("sync.") in names)


def mirror_progress(entities: list[str], window: float) -> tuple[int, dt.datetime | None, bool]:
    """(pending events older than the window, last completion of these entities, completed within the window)."""
    if not entities:
        return 0, None, True
    with get_engine().connect() as c:
        row = c.execute(text(
            """
            SELECT (SELECT count(*) FROM tds_sync_queue WHERE entity_type = ANY(:e) AND status = 'pending'
                       AND created_at < now() - make_interval(secs => :w)
                       AND (next_attempt_at IS NULL OR next_attempt_at <= now())) AS old_pending,
                   (SELECT max(completed_at) FROM tds_sync_queue WHERE entity_type = ANY(:e)
                       AND status = 'completed') AS last_completed,
                   now() - make_interval(secs => :w) AS window_start
            """), {"e": entities, "w": window}).one()
    recent = row.last_completed is not None and row.last_completed >= row.window_start
    return int(row.old_pending), row.last_completed, recent


def judge(worker: str, queues: list[str], window: float = WINDOW_SECONDS) -> Liveness:
    """The liveness of one answering worker (its pid and uptime from `inspect().stats()`)."""
    stats = (_inspect([worker]).stats() or {}).get(worker) or {}
    out = Liveness(worker, ALIVE, queues, pid=stats.get("pid"), uptime_seconds=stats.get("uptime"))
    old, last, recent = mirror_progress(entities_of(queues), window)
    out.old_pending, out.last_completed_at = old, last.isoformat() if last else None
    young = out.uptime_seconds is not None and out.uptime_seconds < window
    if old and not recent and not young:
        out.status = STUCK
        out.reason = (f"{old} event(s) of its queues pending for over {window:.0f} s and nothing completed "
                      f"since {out.last_completed_at or 'ever'}")
    else:
        out.reason = "consuming" if not old else ("just started" if young else "completing work")
    return out


def probe(name: str, window: float = WINDOW_SECONDS) -> list[Liveness]:
    """Every worker matching `name`, judged; one `absent` entry when none answers."""
    try:
        found = find_workers(name)
    except Exception as e:  # noqa: BLE001 - the broker is down: say so, as an exit status
        return [Liveness(name, UNREACHABLE, reason=f"broker unreachable ({type(e).__name__})")]
    if not found:
        return [Liveness(name, ABSENT, reason="no worker of that name answered")]
    try:
        return [judge(w, qs, window) for w, qs in sorted(found.items())]
    except Exception as e:  # noqa: BLE001
        return [Liveness(name, UNREACHABLE, reason=f"database unreachable ({type(e).__name__})")]


def probe_exit(results: list[Liveness]) -> int:
    """The worst status among the matched workers, as an exit status."""
    return max(PROBE_EXIT[r.status] for r in results)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def end_worker(pid: int, grace: float) -> str:
    """SIGTERM (Celery's warm shutdown), then SIGKILL if it is still there after `grace` seconds."""
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            return "terminated"
        time.sleep(0.2)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
        return "killed"
    return "terminated"


def watch_once(window: float = WINDOW_SECONDS, grace: float = 30.0, dry_run: bool = False) -> list[dict[str, Any]]:
    """Judge every answering worker once; end the stuck ones that run on this host. What was done, per worker."""
    host = socket.gethostname()
    actions = []
    for worker, queues in sorted(find_workers().items()):
        verdict = judge(worker, queues, window)
        entry = verdict.as_dict()
        if verdict.status == STUCK:
            local = worker.split("@", 1)[-1] == host
            if not verdict.pid or not local:
                entry["action"] = "left alone: not on this host"
            elif dry_run:
                entry["action"] = "would end"
            else:
                log.warning("worker %s is stuck (%s): ending pid %s so it is restarted", worker, verdict.reason,
                            verdict.pid)
                entry["action"] = end_worker(verdict.pid, grace)
        actions.append(entry)
    return actions


def watch(interval: float = 60.0, window: float = WINDOW_SECONDS, grace: float = 30.0) -> None:
    """Forever: judge every worker each `interval` seconds and end the stuck ones (a failed round is logged)."""
    while True:
        try:
            for entry in watch_once(window, grace):
                if entry.get("action"):
                    log.warning("watchdog: %s %s (%s)", entry["worker"], entry["action"], entry["reason"])
        except Exception as e:  # noqa: BLE001 - the watchdog outlives a broker or database outage
            log.warning("watchdog round failed: %s", type(e).__name__)
        time.sleep(interval)

"""The operator's view: health, stats, queue, metrics as JSON under `/api/zoho/dashboard/*`, and `GET /dashboard` for a person.

Everything needs ADMIN_TOKEN — the health endpoint included, because its messages name
entities, volumes and failures (a monitor sends the token as `Authorization: Bearer`).
A person signs in with the page's POST form, which sets an opaque session cookie
(`webhook_app.auth`): the token never sits in a URL, the page, a log or JavaScript. Every query is answered by an index (see
`tasks.health`); nothing counts the whole mirror, so the page stays fast on millions of
rows. All text that came from outside (error messages, ids) reaches the page through
Jinja's autoescaping and a strict Content-Security-Policy.
"""
from __future__ import annotations

import datetime as dt
import logging
import secrets
from typing import Any

from flask import Blueprint, g, jsonify, make_response, redirect, render_template, request, url_for
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from models.db import get_engine
from models.queue import EVENT_STATUSES
from models.settings import get_settings
from models.shape_warnings import shape_warning_counts
from tasks.health import (
    NOT_COMPLETED,
    completed_per_entity_windows,
    completion_history,
    completions_by_minute,
    entity_list,
    entity_progress,
    evaluate,
    failure_rate,
    human_seconds,
    latency,
    metric_series,
    queue_counts,
    zoho_budget,
    zoho_token_status,
)
from webhook_app.auth import (
    admin_ok,
    clear_session_cookie,
    cross_site_refusal,
    end_session,
    require_admin,
    set_session_cookie,
    start_session,
    token_matches,
)

log = logging.getLogger(__name__)
bp = Blueprint("dashboard", __name__, template_folder="templates")

API = "/api/zoho/dashboard"
MAX_PER_PAGE = 200
DEFAULT_PER_PAGE = 50
MAX_OFFSET = 50_000
"""Deeper pages would scan too far; narrow with `since`/`until` instead."""
REFRESH_SECONDS = 10
HISTORY_HOURS = 6
HISTORY_BUCKET_MINUTES = 10

QUEUE_COLUMNS = ("id, entity_type, entity_id, operation, status, source, retry_count, max_retries, error_message, "
                 "result, zoho_last_modified_at, next_attempt_at, celery_task_id, created_at, updated_at, completed_at")


class BadRequest(ValueError):
    """A query parameter that cannot be honoured (422)."""


def iso(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: iso(v) for k, v in row.items()}


@bp.errorhandler(SQLAlchemyError)
def database_unavailable(e: SQLAlchemyError):
    log.warning("dashboard: database error %s", type(e).__name__)
    return jsonify({"status": "error", "error": "database_unavailable",
                    "message": "the database did not answer; see /api/zoho/dashboard/health"}), 503


@bp.errorhandler(BadRequest)
def bad_request(e: BadRequest):
    return jsonify({"status": "error", "error": "invalid", "message": str(e)}), 422


# --------------------------------------------------------------------------- data

WORKER_PROBE_MAX_AGE = 5.0
"""Seconds a worker probe answer is reused by this process's pages and health endpoint."""


class Figures:
    """The numbers one response shows, each read at most once and in as few round trips as possible.

    The page shows stats, metrics and health together; they share counts per status, the
    24-hour completions, dead letters and per-entity progress. With a health `Snapshot`
    whose queue checks succeeded, its counts and progress are reused as they are.
    """

    WINDOWS = (60, 1440)

    def __init__(self, conn, snap=None):
        self.conn = conn
        self._counts = self._progress = self._done = self._scalars = None
        self._unresolved = None
        if snap is not None and snap.database_ok and "pending" in snap.checks and snap.checks["pending"].verdict != "unknown":
            self._counts, self._progress, self._unresolved = snap.counts, snap.entities, snap.dead_letters

    @property
    def counts(self) -> dict[str, dict[str, int]]:
        if self._counts is None:
            self._counts = queue_counts(self.conn)
        return self._counts

    @property
    def entities(self) -> list[str]:
        return entity_list(list(self.counts))

    @property
    def progress(self) -> dict[str, dict[str, Any]]:
        if self._progress is None:
            self._progress = entity_progress(self.conn, self.entities)
        return self._progress

    def done(self, minutes: int) -> dict[str, int]:
        """Completions per entity in the last `minutes` (60 or 1440: both from one scan)."""
        if self._done is None:
            self._done = completed_per_entity_windows(self.conn, self.entities, self.WINDOWS)
        return self._done[minutes]

    def scalar(self, name: str) -> Any:
        """The single numbers, all from one statement."""
        if self._scalars is None:
            row = self.conn.execute(text(
                """
                SELECT date_trunc('minute', now()) AS now_minute,
                       r.received_1h, r.received_24h, d.dead_1h, d.dead_24h,
                       (SELECT count(*) FROM tds_dead_letter_queue WHERE resolved_at IS NULL) AS dead_unresolved,
                       -- reltuples is -1 (or stale) until ANALYZE; the statistics' live-row count is kept
                       -- up to date by every insert and delete, and is just as free to read.
                       GREATEST((SELECT reltuples::bigint FROM pg_class WHERE oid = 'tds_sync_queue'::regclass),
                                (SELECT n_live_tup FROM pg_stat_user_tables
                                  WHERE relid = 'tds_sync_queue'::regclass)) AS estimate
                  FROM (SELECT count(*) FILTER (WHERE created_at >= now() - interval '60 minutes') AS received_1h,
                               count(*) AS received_24h
                          FROM tds_sync_queue WHERE created_at >= now() - interval '1440 minutes') r,
                       (SELECT count(*) FILTER (WHERE failed_at >= now() - interval '60 minutes') AS dead_1h,
                               count(*) AS dead_24h
                          FROM tds_dead_letter_queue WHERE failed_at >= now() - interval '1440 minutes') d
                """)).mappings().one()
            self._scalars = dict(row)
            if self._unresolved is not None:
                self._scalars["dead_unresolved"] = self._unresolved
        return self._scalars[name]


def stats_data(conn, figures: Figures | None = None) -> dict[str, Any]:
    """Counts per status and per entity x status (exact for everything not completed), 24 h throughput."""
    f = figures or Figures(conn)
    counts, entities = f.counts, f.entities
    done_24h = f.done(1440)
    dead_24h = int(f.scalar("dead_24h"))
    by_status = {s: sum(c.get(s, 0) for c in counts.values()) for s in NOT_COMPLETED}
    # Counting every completed row would read the whole table; the planner's row estimate is free.
    estimate = f.scalar("estimate")
    return {
        "by_status": by_status,
        "completed_last_24h": sum(done_24h.values()),
        "completed_total_estimate": max(0, int(estimate or 0) - sum(by_status.values())),
        "by_entity": {e: {**{s: counts.get(e, {}).get(s, 0) for s in NOT_COMPLETED},
                          "completed_last_24h": done_24h.get(e, 0)} for e in entities},
        "received_last_24h": int(f.scalar("received_24h")),
        "dead_lettered_last_24h": dead_24h,
        "dead_letters_unresolved": int(f.scalar("dead_unresolved")),
        "failure_rate_24h": failure_rate(sum(done_24h.values()), dead_24h),
    }


def metrics_data(conn, hours: int = HISTORY_HOURS, figures: Figures | None = None) -> dict[str, Any]:
    f = figures or Figures(conn)
    counts, entities = f.counts, f.entities
    now_minute = f.scalar("now_minute")
    minutes = [(now_minute - dt.timedelta(minutes=59 - i)).isoformat() for i in range(60)]
    by_minute = completions_by_minute(conn, entities, 60)
    hour = f.done(60)
    dead_1h, dead_24h = int(f.scalar("dead_1h")), int(f.scalar("dead_24h"))
    done_24h = f.done(1440)
    received_1h = int(f.scalar("received_1h"))
    applied_1h = sum(hour.values())
    progress = f.progress
    return {
        "processing_rate": {
            "window_minutes": 60,
            "per_minute": round(applied_1h / 60, 3),
            "by_entity": {e: {"completed_last_hour": hour.get(e, 0), "per_minute": round(hour.get(e, 0) / 60, 3)}
                          for e in entities},
            "minutes": minutes,
            "series": {e: [by_minute.get(e, {}).get(m, 0) for m in minutes] for e in entities},
        },
        "latency": latency(conn, entities, 60),
        "queue_growth": {
            "received_last_hour": received_1h,
            "applied_last_hour": applied_1h,
            "dead_lettered_last_hour": dead_1h,
            "net_per_hour": received_1h - applied_1h - dead_1h,
            "pending_now": sum(c.get("pending", 0) for c in counts.values()),
            "pending_series": metric_series(conn, "pending", hours),
        },
        "failure_rate": {"last_hour": failure_rate(applied_1h, dead_1h),
                         "last_24h": failure_rate(sum(done_24h.values()), dead_24h)},
        "entities": {e: {"last_sync": iso(p["last_sync"]), "last_sync_age_seconds": _round(p["last_sync_age_seconds"]),
                         "delay_seconds": _round(p["delay_seconds"]), "oldest_waiting": iso(p["oldest_waiting"])}
                     for e, p in progress.items()},
        "rate_history": {"hours": hours, "bucket_minutes": HISTORY_BUCKET_MINUTES,
                         "points": completion_history(conn, entities, hours, HISTORY_BUCKET_MINUTES)},
    }


def _round(value: float | None) -> int | None:
    return None if value is None else int(value)


def zoho_data() -> dict[str, Any]:
    """API budget left and token expiry; `available: false` when `zoho.*` cannot say."""
    try:
        budget = {"available": True, **zoho_budget()}
    except Exception as e:  # noqa: BLE001 - the rate limiter is optional for the dashboard
        budget = {"available": False, "error": type(e).__name__}
    token = zoho_token_status()
    token = {"available": True, **token} if token is not None else {"available": False}
    return {"rate_limit": budget, "token": token}


def refusal_counts() -> dict[str, Any]:
    from webhook_app.webhooks import refusals

    return {"scope": "every receiver process (shared through the coordination store)", "counts": refusals.counts()}


def _parse_time(name: str) -> dt.datetime | None:
    raw = request.args.get(name)
    if not raw:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError as e:
        raise BadRequest(f"{name} must be an ISO 8601 date or time, e.g. 2025-11-04T21:52:11+03:00") from e
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError as e:
        raise BadRequest(f"{name} must be an integer") from e
    if not low <= value <= high:
        raise BadRequest(f"{name} must lie between {low} and {high}")
    return value


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def queue_page(conn) -> dict[str, Any]:
    """Newest first, filtered by status / entity / receipt time; `has_more` instead of a total (no full count)."""
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE)
    offset = (page - 1) * per_page
    if offset > MAX_OFFSET:
        raise BadRequest(f"pages beyond {MAX_OFFSET} rows are not served; narrow the list with since/until")
    clauses, params = [], {"limit": per_page + 1, "offset": offset}
    statuses = [s for s in request.args.get("status", "").split(",") if s]
    if statuses:
        unknown = set(statuses) - set(EVENT_STATUSES)
        if unknown:
            raise BadRequest(f"status must be among {', '.join(EVENT_STATUSES)}")
        clauses.append("status = ANY(:statuses)")
        params["statuses"] = statuses
    entity = request.args.get("entity")
    if entity:
        if entity not in entity_list():
            raise BadRequest(f"unknown entity {entity!r}")
        clauses.append("entity_type = :entity")
        params["entity"] = entity
    since, until = _parse_time("since"), _parse_time("until")
    if since:
        clauses.append("created_at >= :since")
        params["since"] = since
    if until:
        clauses.append("created_at < :until")
        params["until"] = until
    columns = QUEUE_COLUMNS + (", payload" if _flag("include_payload") else "")
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    rows = conn.execute(text(
        f"SELECT {columns} FROM tds_sync_queue {where} ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
    ), params).mappings().all()
    return {
        "page": page,
        "per_page": per_page,
        "has_more": len(rows) > per_page,
        "filters": {"status": statuses or None, "entity": entity or None, "since": iso(since), "until": iso(until)},
        "events": [jsonable(dict(r)) for r in rows[:per_page]],
    }


def dead_letters(conn, include_resolved: bool = False, limit: int = 50) -> list[dict[str, Any]]:
    where = "" if include_resolved else "WHERE resolved_at IS NULL"
    rows = conn.execute(text(
        "SELECT id, original_id, entity_type, entity_id, operation, error_message, error_class, retry_count, "
        f"failed_at, resolved_at, resolution_notes FROM tds_dead_letter_queue {where} "
        "ORDER BY failed_at DESC, id DESC LIMIT :n"), {"n": limit}).mappings().all()
    return [jsonable(dict(r)) for r in rows]


def recent_failures(conn, limit: int = 20) -> list[dict[str, Any]]:
    """Events failed and awaiting a retry, most recent first (`ix_tds_sync_queue_open`)."""
    rows = conn.execute(text(
        "SELECT id, entity_type, entity_id, operation, retry_count, max_retries, error_message, next_attempt_at, "
        "created_at, updated_at FROM tds_sync_queue WHERE status = 'failed' ORDER BY updated_at DESC LIMIT :n"),
        {"n": limit}).mappings().all()
    return [jsonable(dict(r)) for r in rows]


def alerts(conn, limit: int = 20) -> dict[str, list[dict[str, Any]]]:
    rows = conn.execute(text(
        "SELECT id, check_name, severity, message, value, raised_at, cleared_at, notified_at, acknowledged_at, "
        "acknowledged_by FROM tds_alerts "
        "ORDER BY (cleared_at IS NULL) DESC, raised_at DESC LIMIT :n"), {"n": limit}).mappings().all()
    rows = [jsonable(dict(r)) for r in rows]
    return {"open": [r for r in rows if r["cleared_at"] is None], "recent": [r for r in rows if r["cleared_at"]]}


# --------------------------------------------------------------------------- JSON API

@bp.get(f"{API}/health")
@require_admin
def health():
    """Always 200 with the verdict in the body: an emergency is an answer, not an error."""
    return jsonify(evaluate(worker_max_age=WORKER_PROBE_MAX_AGE).report())


@bp.get(f"{API}/stats")
@require_admin
def stats():
    with get_engine().connect() as conn:
        return jsonify({"generated_at": iso(dt.datetime.now(dt.timezone.utc)), **stats_data(conn)})


@bp.get(f"{API}/queue")
@require_admin
def queue():
    with get_engine().connect() as conn:
        return jsonify(queue_page(conn))


@bp.get(f"{API}/queue/<int:event_id>")
@require_admin
def queue_event(event_id: int):
    with get_engine().connect() as conn:
        row = conn.execute(text(f"SELECT {QUEUE_COLUMNS}, payload, payload_hash, dedupe_key, locked_until, "
                                "enqueued_at, sync_run_id FROM tds_sync_queue WHERE id = :i"),
                           {"i": event_id}).mappings().first()
        if row is None:
            return jsonify({"status": "error", "error": "not_found", "message": f"no event {event_id}"}), 404
        dead = conn.execute(text("SELECT id, error_message, error_class, failed_at, resolved_at, resolution_notes "
                                 "FROM tds_dead_letter_queue WHERE original_id = :i ORDER BY id"),
                            {"i": event_id}).mappings().all()
    return jsonify({**jsonable(dict(row)), "dead_letters": [jsonable(dict(d)) for d in dead]})


@bp.get(f"{API}/metrics")
@require_admin
def metrics():
    hours = _int_arg("hours", HISTORY_HOURS, 1, 48)
    with get_engine().connect() as conn:
        data = metrics_data(conn, hours)
        data["shape_warnings"] = shape_warning_counts(conn)  # records accepted with odd field shapes, per entity
    return jsonify({"generated_at": iso(dt.datetime.now(dt.timezone.utc)), **data, "zoho": zoho_data(),
                    "webhook_refusals": refusal_counts()})


@bp.get(f"{API}/dead-letters")
@require_admin
def dead_letter_list():
    limit = _int_arg("limit", 50, 1, 500)
    with get_engine().connect() as conn:
        return jsonify({"dead_letters": dead_letters(conn, _flag("include_resolved"), limit)})


@bp.get(f"{API}/alerts")
@require_admin
def alert_list():
    with get_engine().connect() as conn:
        return jsonify(alerts(conn))


# --------------------------------------------------------------------------- the page

def _secure(response):
    """A strict CSP (inline code only with this response's nonce), no framing, no caching, no referrer."""
    nonce = g.get("csp_nonce", "")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'nonce-{nonce}'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    # same-origin: no URL leaves for another site, and the browser still sends this page's Origin on its POSTs
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "no-store"
    return response


def _login(status: int, error: str | None = None):
    g.csp_nonce = secrets.token_urlsafe(16)
    configured = bool(get_settings().admin_token)
    html = render_template("dashboard_login.html", nonce=g.csp_nonce, error=error, configured=configured)
    return _secure(make_response(html, status))


@bp.post("/dashboard/login")
def login():
    """Token in a POST body (never a URL), checked before anything else is parsed; a session cookie back."""
    if request.headers.get("Origin") and cross_site_refusal() is not None:
        return _login(403, "Sign in from this page.")
    if request.mimetype != "application/x-www-form-urlencoded" or (request.content_length or 0) > 4096:
        return _login(400, "Sign in with the form.")
    if not token_matches(request.form.get("admin_token", "")):
        return _login(401, "That is not the admin token.")
    try:
        session_id = start_session()
    except RedisError:
        return _login(503, "The session store (Redis) did not answer; try again.")
    return _secure(set_session_cookie(redirect(url_for("dashboard.page"), code=303), session_id))


@bp.post("/dashboard/logout")
def logout():
    """Revokes the session server-side (a copied cookie stops working too)."""
    refused = cross_site_refusal()
    if refused is not None:
        return refused
    end_session()
    return _secure(clear_session_cookie(redirect(url_for("dashboard.page"), code=303)))


@bp.get("/dashboard")
def page():
    if not admin_ok():
        return _login(401)
    g.csp_nonce = secrets.token_urlsafe(16)
    # `?partial=1` is the page's own auto-refresh: just the content, swapped in place without a reload.
    template = "_dashboard_app.html" if _flag("partial") else "dashboard.html"
    html = render_template(template, nonce=g.csp_nonce, refresh_seconds=REFRESH_SECONDS, **page_context())
    return _secure(make_response(html, 200))


def flower_url() -> str:
    host = request.host
    if host.startswith("["):
        host = host[: host.index("]") + 1]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    return f"{request.scheme}://{host}:{get_settings().flower_port}"


def page_context() -> dict[str, Any]:
    snap = evaluate(worker_max_age=WORKER_PROBE_MAX_AGE)
    zoho = zoho_data() if snap.coordination_ok else {"rate_limit": {"available": False}, "token": {"available": False}}
    ctx: dict[str, Any] = {"health": snap.report(), "db_error": None, "flower_url": flower_url(),
                           "zoho": zoho, "refusals": refusal_counts()}
    try:
        with get_engine().connect() as conn:
            figures = Figures(conn, snap)
            ctx["stats"] = stats_data(conn, figures)
            ctx["metrics"] = metrics_data(conn, figures=figures)
            ctx["failures"] = recent_failures(conn)
            ctx["dead_letters"] = dead_letters(conn)
            ctx["alerts"] = alerts(conn)
            ctx["shape_warnings"] = shape_warning_counts(conn)
        ctx["ops"] = ops_data()
    except SQLAlchemyError as e:
        ctx["db_error"] = f"The database did not answer ({type(e).__name__})."
    if not ctx["db_error"]:
        ctx["chart"] = rate_chart(ctx["metrics"]["rate_history"]["points"])
    return ctx


def rate_chart(points: list[dict[str, Any]], width: int = 760, height: int = 170) -> dict[str, Any]:
    """Bar geometry for the inline SVG of events applied per bucket (server-side: no JS, no CDN)."""
    left, bottom, top = 40, 22, 10
    plot_w, plot_h = width - left - 8, height - bottom - top
    peak = max((p["completed"] for p in points), default=0)
    scale = _nice_ceiling(peak)
    n = max(1, len(points))
    step = plot_w / n
    bars, labels = [], []
    for i, p in enumerate(points):
        h = 0 if scale == 0 else plot_h * p["completed"] / scale
        t = dt.datetime.fromisoformat(p["t"])
        bars.append({"x": round(left + i * step + 1, 1), "y": round(top + plot_h - h, 1),
                     "w": round(max(1.0, step - 2), 1), "h": round(h, 1), "n": p["completed"],
                     "label": f"{t:%H:%M} UTC: {p['completed']} applied"})
        if t.minute == 0:
            labels.append({"x": round(left + i * step, 1), "text": f"{t:%H:%M}"})
    grid = [{"y": round(top + plot_h - plot_h * f, 1), "text": _short(scale * f)} for f in (0, 0.5, 1)]
    return {"width": width, "height": height, "bars": bars, "labels": labels, "grid": grid, "left": left,
            "right": width - 8, "baseline": top + plot_h, "total": sum(p["completed"] for p in points)}


def _nice_ceiling(value: float) -> float:
    if value <= 0:
        return 0
    magnitude = 10 ** (len(str(int(value))) - 1)
    for m in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= m * magnitude:
            return m * magnitude
    return 10 * magnitude


def _short(value: float) -> str:
    return f"{value / 1000:.1f}k" if value >= 1000 else f"{value:.0f}"


@bp.app_template_filter("ago")
def ago_filter(value: Any) -> str:
    if not value:
        return "never"
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    seconds = (dt.datetime.now(dt.timezone.utc) - when).total_seconds()
    return "just now" if seconds < 5 else f"{human_seconds(seconds)} ago"


@bp.app_template_filter("duration")
def duration_filter(value: Any) -> str:
    return "—" if value in (None, "") else human_seconds(value)


@bp.app_template_filter("pct")
def pct_filter(value: Any) -> str:
    return "—" if value is None else f"{value * 100:.1f} %"


@bp.app_template_filter("utc")
def utc_filter(value: Any) -> str:
    if not value:
        return ""
    when = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return f"{when.astimezone(dt.timezone.utc):%Y-%m-%d %H:%M:%S} UTC"


# --------------------------------------------------------------------------- operator answers

def ops_data() -> dict[str, Any]:
    """What operators ask first: error patterns, recent pulls, Zoho vs ERP (the CLI reads the same functions)."""
    from tasks.operations import error_patterns, recent_pulls
    from tasks.reconcile import latest_results

    return {"errors": error_patterns(hours=24, limit=20), "pulls": recent_pulls(limit=15),
            "zoho_vs_erp": latest_results()}


@bp.get(f"{API}/errors")
@require_admin
def error_pattern_list():
    """Failed and dead events of the last `hours` (default 24) grouped by entity and error, with counts."""
    from tasks.operations import error_patterns

    hours = _int_arg("hours", 24, 1, 24 * 30)
    return jsonify({"hours": hours, "patterns": error_patterns(hours=hours, limit=_int_arg("limit", 50, 1, 500))})


@bp.get(f"{API}/pulls")
@require_admin
def pull_list():
    """Recent runs of `tds_sync_runs`: entity, kind, status, calls, fetched/changed/failed, duration."""
    from tasks.operations import recent_pulls
    from zoho.entities import get_entity

    entity = request.args.get("entity") or None
    if entity is not None and get_entity(entity) is None and entity != "product-images":
        return jsonify({"status": "error", "error": "unknown_entity", "message": f"no such entity {entity!r}"}), 404
    return jsonify({"pulls": recent_pulls(limit=_int_arg("limit", 50, 1, 500), entity=entity)})


@bp.get(f"{API}/zoho-vs-erp")
@require_admin
def zoho_vs_erp():
    """Per entity, as the last reconciliation found it: counts, missing/stale/extra, match %, when."""
    from tasks.reconcile import latest_results

    return jsonify({"entities": latest_results()})

"""`POST /api/zoho/webhooks/<entity>`: verify → parse → validate → record → publish → answer.

A 2xx leaves only after the event is committed to `tds_sync_queue`; publishing to the
broker happens after the commit and may fail without failing the request (the healer
publishes pending rows later). Every refusal is a JSON body and is counted.
"""
from __future__ import annotations

import json
import logging
from collections import Counter

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from models.db import get_autocommit_engine
from models.events import make_event, record_event
from models.settings import get_settings
from models.shape_warnings import record_shape_warning
from tasks.publish import publish_event
from webhook_app.signature import SIGNATURE_HEADER, TOKEN_HEADERS, signature_valid, token_valid
from zoho.entities import get_entity
from zoho.fields import nul_path
from zoho.mapper import last_modified

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

DELETE_EVENTS = {"deleted", "delete", "removed"}
refusals: Counter[str] = Counter()
"""Refusals per reason in this process (exposed on the dashboard's metrics)."""


def refuse(status: int, reason: str, message: str, **extra):
    refusals[reason] += 1
    log.info("webhook refused: %s", reason, extra={"entity": request.view_args.get("entity"), "status": status})
    return jsonify({"status": "error", "error": reason, "message": message, **extra}), status


def _form_fields() -> list[tuple[str, str]] | None:
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    return list(request.form.items(multi=True))


def _authentic(raw: bytes, form: list[tuple[str, str]] | None) -> bool:
    secret = get_settings().webhook_secret
    if not secret:
        return False
    tokens = [request.headers.get(h) for h in TOKEN_HEADERS] + [request.args.get("token")]
    if token_valid(secret, tokens):
        return True
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        return False
    params = list(request.args.items(multi=True))
    if form is not None:
        return signature_valid(secret, signature, params + form, None)
    return signature_valid(secret, signature, params, raw)


def _parse(raw: bytes, form: list[tuple[str, str]] | None):
    """The JSON document Zoho sent: a raw JSON body, or the form field `JSONString`."""
    if form is not None:
        values = dict(form)
        text = values.get("JSONString") or values.get("jsonstring") or values.get("payload")
        if text is None:
            raise ValueError("form body has no JSONString field")
    else:
        if not raw.strip():
            raise ValueError("empty body")
        text = raw.decode("utf-8")
    return json.loads(text)


def _operation() -> str:
    if request.method == "DELETE":
        return "delete"
    event = (request.args.get("event") or request.headers.get("X-Zoho-Event") or "").strip().lower()
    return "delete" if event in DELETE_EVENTS else "upsert"


@bp.route("/api/zoho/webhooks/<entity>", methods=["POST", "PUT", "DELETE"])
def receive(entity: str):
    ent = get_entity(entity)
    if ent is None:
        return refuse(404, "unknown_entity", f"no such entity {entity!r}")
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return refuse(413, "too_large", f"body over {limit} bytes")
    raw = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH → 413 when exceeded
    try:
        form = _form_fields()
    except UnicodeDecodeError:
        return refuse(400, "malformed", "form body is not valid UTF-8")

    # 1. verify
    if not _authentic(raw, form):
        return refuse(401, "unauthorized", "missing or invalid webhook signature / token")

    # 2. parse
    try:
        body = _parse(raw, form)
    except (ValueError, UnicodeDecodeError) as e:
        return refuse(400, "malformed", f"body is not JSON: {type(e).__name__}")

    # 3. validate
    # JSON can only carry a NUL as the escape \u0000: a byte search first, the walk only then
    if (b"\\u0000" in raw) if form is None else any("\\u0000" in v for _, v in form):
        where = nul_path(body)
        if where:
            return refuse(422, "invalid", "a text field contains a NUL character (\\u0000), which cannot be stored",
                          errors={where.lstrip(".") or "$": ["contains a NUL character (\\u0000)"]})
    operation = _operation()
    unwrapped = ent.unwrap(body)
    if unwrapped is None:
        return refuse(422, "invalid", "not a record of this entity",
                      errors={ent.record_key: [f"expected a JSON object under {ent.record_key!r}"]})
    key, record = unwrapped
    # Only an unusable record is refused (no id, unreadable version); other odd shapes are warnings.
    fatal, warnings = ent.check(record, operation)
    if fatal:
        return refuse(422, "invalid", "record failed validation", errors={key: fatal})
    zoho_id = ent.record_id(record)
    lmt = last_modified(record)

    # 4. record (the 2xx waits for this commit)
    event = make_event(ent.name, zoho_id, operation, {key: record}, lmt,
                       max_retries=get_settings().max_retries)
    try:
        event_id, created = _record(event)
    except (OperationalError, DBAPIError, PoolTimeout) as e:
        log.error("database unreachable; nothing recorded: %s", type(e).__name__, extra={"entity": ent.name})
        refusals["database_unavailable"] += 1
        return jsonify({"status": "error", "error": "database_unavailable",
                        "message": "event not recorded; retry later"}), 503
    if not created:
        return jsonify({"status": "duplicate", "event_id": event_id}), 200
    if warnings:
        _count_shape_warning(ent.name, warnings, zoho_id)

    # 5. publish (after the commit; failure leaves the row pending for the healer)
    publish_event(ent.name, event_id)
    log.debug("webhook recorded", extra={"event_id": event_id, "entity": ent.name, "entity_id": zoho_id})
    return jsonify({"status": "queued", "event_id": event_id}), 202


def _count_shape_warning(entity: str, fields: list[str], zoho_id: str) -> None:
    """Persist one shape warning; the event is already committed, so a failure here is only logged."""
    try:
        with get_autocommit_engine().connect() as conn:
            record_shape_warning(conn, entity, fields, zoho_id)
    except (DBAPIError, PoolTimeout) as e:
        log.warning("shape warning not counted: %s", type(e).__name__, extra={"entity": entity})
    log.info("record accepted with unexpected shapes", extra={"entity": entity, "entity_id": zoho_id})


def _record(event) -> tuple[int, bool]:
    """Commit the event; one retry when the first try finds the pool's connections dead.

    The INSERT … ON CONFLICT DO NOTHING RETURNING runs in autocommit: PostgreSQL commits it
    (synchronously, like any COMMIT) before answering, so one round trip replaces
    BEGIN + INSERT + COMMIT and the row is durable when `record_event` returns. The rare
    duplicate path only reads.
    """
    engine = get_autocommit_engine()
    for attempt in (1, 2):
        try:
            with engine.connect() as conn:
                return record_event(conn, event)
        except DBAPIError as e:
            if attempt == 2 or not e.connection_invalidated:
                raise
    raise AssertionError("unreachable")

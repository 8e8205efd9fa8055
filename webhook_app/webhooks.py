"""`POST /api/zoho/webhooks/<entity>`: verify → parse → validate → record → publish → answer.

A 2xx leaves only after the event is committed to `tds_sync_queue`; publishing to the
broker happens after the commit and may fail without failing the request (the healer
publishes pending rows later). Every refusal is a JSON body and is counted.
"""
from __future__ import annotations

import json
import logging
import math
import re
from functools import cache
from urllib.parse import parse_qsl

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import RequestEntityTooLarge

from models.coord import SharedCounter
from models.db import get_autocommit_engine
from models.events import make_event, record_event
from models.settings import get_settings
from models.shape_warnings import record_shape_warning
from tasks.publish import publish_event
from webhook_app.signature import (
    ENTITY_PARAM,
    EVENT_PARAM,
    SIGNATURE_HEADER,
    TOKEN_HEADERS,
    operation_from,
    shared_record_keys,
    signature_valid,
    token_valid,
)
from zoho.entities import get_entity, registry
from zoho.errors import MappingError
from zoho.fields import nul_path
from zoho.mapper import last_modified

log = logging.getLogger(__name__)
bp = Blueprint("webhooks", __name__)

DELETE_EVENTS = {"deleted", "delete", "removed"}
refusals = SharedCounter("webhook_refusals")
"""Refusals per reason, added up over every receiver process and host (the dashboard's metrics)."""


MAX_DEPTH = 64
"""Deepest nesting of objects and arrays a webhook may have (Zoho's records nest 4 or 5 levels)."""
MAX_FORM_FIELDS = 100
MAX_ERROR_ENTRIES = 20
MAX_ERROR_TEXT = 200
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def printable(value: object) -> str:
    """A value from the request made safe for one log line: control characters escaped, length capped."""
    text = str(value)[:200]
    return text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text


def refuse(status: int, reason: str, message: str, **extra):
    refusals.incr(reason)
    log.info("webhook refused: %s", reason,
             extra={"entity": printable(request.view_args.get("entity")), "status": status})
    return jsonify({"status": "error", "error": reason, "message": message, **extra}), status


class Refused(Exception):
    """A request answered with a 4xx before it reaches the database."""

    def __init__(self, status: int, reason: str, message: str, **extra):
        super().__init__(message)
        self.status, self.reason, self.message, self.extra = status, reason, message, extra


def _read_body(limit: int) -> bytes:
    """The whole body, or 413 past `limit` — a chunked body (no Content-Length) included, never truncated."""
    if request.content_length is not None and request.content_length > limit:
        raise Refused(413, "too_large", f"body over {limit} bytes")
    stream, chunks, size = request.stream, [], 0
    try:
        while True:
            chunk = stream.read(min(65536, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise Refused(413, "too_large", f"body over {limit} bytes")
    except RequestEntityTooLarge as e:
        raise Refused(413, "too_large", f"body over {limit} bytes") from e
    return b"".join(chunks)


def _form_fields(raw: bytes) -> list[tuple[str, str]] | None:
    """The fields of a form-encoded body (strict UTF-8, at most MAX_FORM_FIELDS); None for any other body."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return None
    try:
        return parse_qsl(raw.decode("utf-8"), keep_blank_values=True, strict_parsing=False, errors="strict",
                         max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError) as e:
        raise Refused(400, "malformed", f"form body is not valid UTF-8 form data: {type(e).__name__}") from e


def _authenticate(entity: str, raw: bytes) -> tuple[str, list[tuple[str, str]] | None]:
    """("token" | "signature", form fields): the shared token is checked before any body parsing.

    A form body is parsed only when a signature is presented (the signature covers its fields).
    """
    secret = get_settings().webhook_secret_for(entity)
    if not secret:
        raise Refused(401, "unauthorized", "missing or invalid webhook signature / token")
    tokens = [request.headers.get(h) for h in TOKEN_HEADERS] + [request.args.get("token")]
    if token_valid(secret, tokens):
        return "token", _form_fields(raw)
    signature = request.headers.get(SIGNATURE_HEADER)
    if not signature:
        raise Refused(401, "unauthorized", "missing or invalid webhook signature / token")
    form = _form_fields(raw)
    params = list(request.args.items(multi=True))
    ok = (signature_valid(secret, signature, params + form, None) if form is not None
          else signature_valid(secret, signature, params, raw))
    if not ok:
        raise Refused(401, "unauthorized", "missing or invalid webhook signature / token")
    return "signature", form


class _NonFinite(float):
    """Stands in for `NaN`, `Infinity` or an overflowing number (`1e999`) until its place is named."""


def _parse(raw: bytes, form: list[tuple[str, str]] | None):
    """The JSON document Zoho sent (a raw JSON body, or the form field `JSONString`), checked to be storable."""
    if form is not None:
        values = dict(form)
        text = values.get("JSONString") or values.get("jsonstring") or values.get("payload")
        if text is None:
            raise Refused(400, "malformed", "form body has no JSONString field")
        encoded = text.encode("utf-8", "surrogatepass")
    else:
        if not raw.strip():
            raise Refused(400, "malformed", "body is not JSON: empty body")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise Refused(400, "malformed", "body is not valid UTF-8") from e
        encoded = raw
    seen_non_finite = []

    def non_finite(literal: str) -> float:
        seen_non_finite.append(literal)
        return _NonFinite("nan")

    def number(literal: str) -> float:
        value = float(literal)
        return value if math.isfinite(value) else non_finite(literal)

    try:
        body = json.loads(text, parse_constant=non_finite, parse_float=number)
    except RecursionError as e:
        raise Refused(400, "malformed", f"body nests deeper than {MAX_DEPTH} levels") from e
    except ValueError as e:
        raise Refused(400, "malformed", f"body is not JSON: {type(e).__name__}") from e
    depth = _depth(body)
    if depth > MAX_DEPTH:
        raise Refused(400, "malformed", f"body nests deeper than {MAX_DEPTH} levels")
    # a lone surrogate (`"\ud800"`) is valid JSON but no valid text: refused before it reaches the database
    if _SURROGATE_ESCAPE.search(encoded):
        try:
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            raise Refused(400, "malformed", "body contains a lone UTF-16 surrogate (invalid Unicode)") from e
    if seen_non_finite:
        where = _find(body, lambda v: isinstance(v, _NonFinite)) or "$"
        raise Refused(422, "invalid", "a number is not finite (NaN, Infinity or out of range)",
                      errors={where.lstrip(".") or "$": [f"not a finite number: {seen_non_finite[0][:40]}"]})
    return body


def _depth(value) -> int:
    """Nesting depth, without recursion (a deep document must not exhaust the stack here either)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        deepest = max(deepest, level)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, level + 1) for child in children)
    return deepest


def _find(value, predicate, path: str = "") -> str | None:
    if predicate(value):
        return path or "$"
    if isinstance(value, dict):
        items = ((f"{path}.{k}", v) for k, v in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{i}]", v) for i, v in enumerate(value))
    else:
        return None
    for where, child in items:
        found = _find(child, predicate, where)
        if found:
            return found
    return None


def cap_errors(messages, budget: list[int] | None = None):
    """marshmallow's messages cut to a readable size: a 1 MiB bad array answers a short 422, not a huge one."""
    budget = budget if budget is not None else [MAX_ERROR_ENTRIES]
    if isinstance(messages, dict):
        out = {}
        for key, value in messages.items():
            if budget[0] <= 0:
                out["…"] = [f"{len(messages) - len(out)} more not shown"]
                break
            budget[0] -= 1
            out[printable(key)[:MAX_ERROR_TEXT]] = cap_errors(value, budget)
        return out
    if isinstance(messages, list):
        shown = [cap_errors(m, budget) for m in messages[:MAX_ERROR_ENTRIES]]
        if len(messages) > MAX_ERROR_ENTRIES:
            shown.append(f"{len(messages) - MAX_ERROR_ENTRIES} more not shown")
        return shown
    return str(messages)[:MAX_ERROR_TEXT]


@cache
def _shared_keys() -> dict[str, set[str]]:
    """Per entity, the record keys another entity uses too (the registry never changes: built once)."""
    return shared_record_keys({e.name: tuple(e.record_keys) for e in registry().values()})


def _bind_entity(ent, mode: str, body) -> None:
    """Refuse a request whose authenticated bytes do not name this entity (see webhook_app.signature)."""
    named = request.args.get(ENTITY_PARAM)
    if named is not None and named != ent.name:
        raise Refused(401, "wrong_entity", f"this webhook is for {printable(named)!r}, not {ent.name!r}")
    if mode != "signature" or named is not None or get_settings().has_own_webhook_secret(ent.name):
        return
    key = next((k for k in ent.record_keys if isinstance(body, dict) and isinstance(body.get(k), dict)), None)
    shared = key is None or key in _shared_keys()[ent.name]
    if shared and key is not None and _route_is_moot(ent, key, body[key]):
        return
    if shared:
        secret_var = "ZOHO_WEBHOOK_SECRET_" + ent.name.upper().replace("-", "_")
        raise Refused(401, "entity_not_signed",
                      f"the signature does not name the entity: add {ENTITY_PARAM}={ent.name} to the webhook URL "
                      f"(query parameters are signed) or give {ent.name} its own secret ({secret_var})")


@cache
def _key_owner(key: str) -> str | None:
    """The entity a shared record key means by default: the first registered one whose own key it is."""
    return next((e.name for e in registry().values() if e.record_key == key), None)


def _route_is_moot(ent, key: str, record: dict) -> bool:
    """True when a request without `entity=` cannot change meaning by its route.

    Zoho's own webhooks carry no entity, so the default owner of a shared key (`item` → products,
    `contact` → customers) is served without one; and a contact that names its `contact_type` is
    filed by it on every contact route (customers, vendors, contacts), so its route decides nothing.
    Any other entity sharing a key (stock's `item`) needs the signed `entity=` or its own secret.
    """
    if _key_owner(key) == ent.name:
        return True
    return key == "contact" and record.get("contact_type") in ("customer", "vendor", "both")


def _operation(mode: str) -> str:
    """The signed query's `event` decides; the unsigned hints count only for a token when enabled."""
    event = request.args.get(EVENT_PARAM)
    hinted = request.method == "DELETE" or request.headers.get("X-Zoho-Event") is not None
    if mode == "token" and get_settings().webhook_trust_unsigned_hints:
        if request.method == "DELETE":
            return "delete"
        return operation_from(event or request.headers.get("X-Zoho-Event"))
    if hinted:
        refusals.incr("unsigned_hint_ignored")
        log.info("webhook: unsigned operation hint ignored (method or X-Zoho-Event)",
                 extra={"entity": printable(request.view_args.get("entity"))})
    return operation_from(event)


@bp.route("/api/zoho/webhooks/<entity>", methods=["POST", "PUT", "DELETE"])
def receive(entity: str):
    ent = get_entity(entity)
    if ent is None:
        return refuse(404, "unknown_entity", f"no such entity {printable(entity)!r}")
    try:
        raw = _read_body(current_app.config["MAX_CONTENT_LENGTH"])
        # 1. verify (the token before any parsing; a form only to check its signature)
        mode, form = _authenticate(ent.name, raw)
        # 2. parse
        body = _parse(raw, form)
        # 3. validate
        # JSON can only carry a NUL as the escape \u0000: a byte search first, the walk only then
        if (b"\\u0000" in raw) if form is None else any("\\u0000" in v for _, v in form):
            where = nul_path(body)
            if where:
                raise Refused(422, "invalid", "a text field contains a NUL character (\\u0000), which cannot be stored",
                              errors={where.lstrip(".") or "$": ["contains a NUL character (\\u0000)"]})
        unwrapped = ent.unwrap(body)
        if unwrapped is None:
            raise Refused(422, "invalid", "not a record of this entity",
                          errors={ent.record_key: [f"expected a JSON object under {ent.record_key!r}"]})
        _bind_entity(ent, mode, body)
        operation = _operation(mode)
    except Refused as r:
        return refuse(r.status, r.reason, r.message, **r.extra)
    key, record = unwrapped
    # Only an unusable record is refused (no id, unreadable version); other odd shapes are warnings.
    fatal, warnings = ent.check(record, operation)
    if fatal:
        return refuse(422, "invalid", "record failed validation", errors={key: cap_errors(fatal)})
    try:
        zoho_id = ent.record_id(record)
    except MappingError as e:
        return refuse(422, "invalid", "record failed validation", errors={key: [str(e)[:MAX_ERROR_TEXT]]})
    lmt = last_modified(record)
    if not (zoho_id.isascii() and zoho_id.isdigit()):
        return refuse(422, "invalid", "record failed validation",
                      errors={key: {"id": [f"a Zoho id is a string of digits, got {printable(zoho_id)[:40]!r}"]}})

    # 4. record (the 2xx waits for this commit)
    event = make_event(ent.name, zoho_id, operation, {key: record}, lmt,
                       max_retries=get_settings().max_retries)
    try:
        event_id, created = _record(event)
    except (OperationalError, DBAPIError, PoolTimeout) as e:
        log.error("database unreachable; nothing recorded: %s", type(e).__name__, extra={"entity": ent.name})
        refusals.incr("database_unavailable")
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

"""The sandbox's HTTP face: Zoho's token endpoint, the Books v3 / Inventory v1 subset, and `/sandbox/*` controls.

Every Zoho-facing answer follows Zoho's envelopes and status codes (`code` 0 /
57 / 6041 / 1002 / 45 / 1000 / 5) so that the API client, the receiver and the
workers meet the same behaviour they will meet in production. Control endpoints are
not Zoho: no auth, no rate limit, not counted.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from zoho_sandbox.data import (
    COLLECTIONS,
    WAREHOUSES,
    Change,
    InvalidRecord,
    RecordNotFound,
    SandboxOrg,
    UnknownEntity,
    parse_time,
)
from zoho_sandbox.images import image_bytes
from zoho_sandbox.more import BARE_DETAIL
from zoho_sandbox.runtime import ConfigError, Sandbox, SandboxOptions

log = logging.getLogger(__name__)

MAX_PER_PAGE = 200
MAX_ITEMDETAILS_IDS = 100
NOT_AUTHORIZED = {"code": 57, "message": "You are not authorized to perform this operation"}
INVALID_URL = {"code": 5, "message": "Invalid URL Passed"}
INTERNAL_ERROR = {"code": 1000, "message": "Internal error"}
ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH"]

#: Collections each service serves at `/<service>/<version>/<collection>[/<id>]`.
SERVICE_COLLECTIONS = {
    "books": (
        "contacts",
        "invoices",
        "bills",
        "creditnotes",
        "customerpayments",
        "vendorpayments",
        "salesorders",
        "purchaseorders",
        "items",
        "pricebooks",
        "vendorcredits",
    ),
    "inventory": (
        "items",
        "pricebooks",
        "locations",
        "contacts",
        "invoices",
        "bills",
        "creditnotes",
        "customerpayments",
        "salesorders",
        "purchaseorders",
        "inventoryadjustments",
        "transferorders",
        "compositeitems",
        "itemgroups",
        "vendorcredits",
    ),
}
#: Zoho Inventory's `/bills` silently ignores every filter but paging (a real quirk).
FILTERS_IGNORED = {("inventory", "bills")}
#: Query parameters that select rows on honoured list endpoints (exact match on the field).
EXACT_FILTERS = ("status", "customer_id", "vendor_id", "sku", "contact_type", "item_type", "product_type")
STATUS_ALIASES = {
    "unpaid": {"sent", "overdue", "partially_paid"},
    "open": {"open", "sent", "overdue", "partially_paid"},
}


class ApiError(Exception):
    """An error answered in Zoho's envelope: HTTP status plus `{"code", "message"}`."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """UTF-8 JSON with Arabic left unescaped, keys in insertion order (as Zoho prints them)."""
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    response = Response(body, status=status, mimetype="application/json")
    response.headers["Content-Type"] = "application/json;charset=UTF-8"
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


@dataclass(frozen=True)
class Route:
    template: str  # the path with ids replaced by `{id}`, for per-path call counts
    handler: Callable[[], Response]


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, 2, f"Invalid value passed for {name}") from None
    if value < 1:
        raise ApiError(400, 2, f"Invalid value passed for {name}")
    return value


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def create_sandbox_app(org: SandboxOrg | None = None, **options: Any) -> Flask:
    """A Flask app that behaves like Zoho for one organisation.

    `org` injects a ready organisation (tests); otherwise one is generated from
    `seed`/`scale`. `options` are `SandboxOptions` fields (rate_limit, token_ttl,
    webhook_url, live, …); with `live=True` the live-mode thread starts at once.
    """
    opts = SandboxOptions(**options)
    sandbox = Sandbox(opts, org)
    app = Flask("zoho_sandbox")
    app.extensions["zoho_sandbox"] = sandbox
    if opts.live:
        sandbox.live.start()

    # ------------------------------------------------------------------ errors

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError) -> Response:
        return json_response({"code": e.code, "message": e.message}, e.status)

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException) -> Response:
        if e.code == 404:
            return json_response(INVALID_URL, 404)
        if e.code == 405:
            return json_response(
                {"code": 37, "message": f"The HTTP method {request.method} is not allowed for the requested resource"},
                405,
            )
        return json_response({"code": e.code, "message": e.description or e.name}, e.code or 500)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        log.exception("sandbox error on %s %s", request.method, request.path)
        return json_response(INTERNAL_ERROR, 500)

    # ------------------------------------------------------------------ OAuth

    @app.post("/oauth/v2/token")
    def oauth_token() -> Response:
        params = {k: v for k, v in request.values.items()}
        status, body = sandbox.issuer.grant(params)
        if status == 200:
            body = {
                "access_token": body["access_token"],
                "expires_in": body["expires_in"],
                "api_domain": request.host_url.rstrip("/"),
                "token_type": body["token_type"],
                "scope": body["scope"],
            }
        return json_response(body, status)

    @app.get("/healthz")
    def healthz() -> Response:
        return json_response({"status": "ok", "org_id": sandbox.org.org_id})

    # ------------------------------------------------------------------ Zoho API

    def resolve(service: str, rest: str) -> Route | None:
        """Map `/<service>/<version>/<rest>` to a handler and its path template (None: unknown URL)."""
        parts = [p for p in rest.split("/") if p]
        prefix = f"/{service}/{'v3' if service == 'books' else 'v1'}/"
        if not parts:
            return None
        head, tail = parts[0], parts[1:]
        if head == "organizations" and len(tail) <= 1:
            return Route(prefix + "organizations" + ("/{id}" if tail else ""), lambda: organizations(tail))
        if service == "inventory":
            if head == "itemdetails" and not tail:
                return Route(prefix + "itemdetails", itemdetails)
            if head == "items" and len(tail) == 2 and tail[1] == "image":
                return Route(prefix + "items/{id}/image", lambda: item_image(tail[0]))
            # an older organisation (locations never enabled) has no /locations at all
            if head == "locations" and sandbox.org.legacy_warehouses:
                return None
            # the legacy warehouses view, at both of the paths Zoho has used for it
            if head == "settings" and tail[:1] == ["warehouses"]:
                head, tail, path = "warehouses", tail[1:], "settings/warehouses"
            else:
                path = "warehouses"
            if head == "warehouses" and len(tail) <= 1:
                if tail:
                    return Route(f"{prefix}{path}/{{id}}", lambda: detail("locations", tail[0], view="warehouses"))
                return Route(f"{prefix}{path}", lambda: listing("locations", service, view="warehouses"))
        if head in SERVICE_COLLECTIONS[service] and len(tail) <= 1:
            if tail:
                return Route(f"{prefix}{head}/{{id}}", lambda: detail(head, tail[0]))
            return Route(f"{prefix}{head}", lambda: listing(head, service))
        return None

    @app.route("/books/v3/<path:rest>", methods=ALL_METHODS)
    @app.route("/inventory/v1/<path:rest>", methods=ALL_METHODS)
    def api(rest: str) -> Response:
        service = "books" if request.path.startswith("/books/") else "inventory"
        auth = request.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme != "Zoho-oauthtoken" or not sandbox.issuer.valid(token.strip()):
            return json_response(NOT_AUTHORIZED, 401)
        route = resolve(service, rest)
        if route is None:
            return json_response(INVALID_URL, 404)
        org = sandbox.org
        if not route.template.endswith("/organizations") and request.args.get("organization_id") != org.org_id:
            return json_response({"code": 6041, "message": "Invalid value passed for organization_id"}, 400)
        decision = sandbox.limiter.acquire(org.org_id)
        if not decision.allowed:
            return json_response(decision.body, decision.status, decision.headers)
        sandbox.record_call(route.template)
        if sandbox.roll_failure():
            return json_response(INTERNAL_ERROR, 500, decision.headers)
        latency = sandbox.options.latency_ms
        if latency > 0:
            time.sleep(latency / 1000)
        if request.method != "GET":
            return json_response(
                {"code": 37, "message": f"The HTTP method {request.method} is not allowed for the requested resource"},
                405,
                decision.headers,
            )
        try:
            response = route.handler()
        except ApiError as e:
            response = json_response({"code": e.code, "message": e.message}, e.status)
        for k, v in decision.headers.items():
            response.headers.setdefault(k, v)
        return response

    def listing(collection: str, service: str, view: str | None = None) -> Response:
        org = sandbox.org
        page = _int_arg("page", 1)
        per_page = min(_int_arg("per_page", MAX_PER_PAGE), MAX_PER_PAGE)
        spec = WAREHOUSES if view == "warehouses" else COLLECTIONS[collection]
        honour = (service, collection) not in FILTERS_IGNORED
        args = request.args
        since = None
        where = None
        sort_column = None
        sort_order = "A"
        filter_by = "Status.All"
        if honour:
            if args.get("last_modified_time"):
                try:
                    since = parse_time(args["last_modified_time"])
                except ValueError:
                    raise ApiError(400, 2, "Invalid value passed for last_modified_time") from None
            sort_column = args.get("sort_column") or None
            sort_order = (args.get("sort_order") or "A").upper()
            if sort_order not in ("A", "D", "ASC", "DESC", "ASCENDING", "DESCENDING"):
                raise ApiError(400, 2, "Invalid value passed for sort_order")
            sort_order = "D" if sort_order.startswith("D") else "A"
            filter_by = args.get("filter_by") or "Status.All"
            where = _filters(collection, args, filter_by)
        rows, more = org.list_page(
            collection,
            page=page,
            per_page=per_page,
            modified_since=since,
            where=where,
            sort_column=sort_column,
            sort_order=sort_order,
            view=view,
        )
        context = {
            "page": page,
            "per_page": per_page,
            "has_more_page": more,
            "report_name": spec.label + "s",
            "applied_filter": filter_by,
            "sort_column": sort_column or "created_time",
            "sort_order": sort_order,
            "search_criteria": [],
        }
        return json_response({"code": 0, "message": "success", spec.list_key: rows, "page_context": context})

    def _filters(collection: str, args: Any, filter_by: str) -> Callable[[dict[str, Any]], bool] | None:
        tests: list[Callable[[dict[str, Any]], bool]] = []
        for name in EXACT_FILTERS:
            wanted = args.get(name)
            if wanted:
                if name == "status":
                    allowed = STATUS_ALIASES.get(wanted.lower(), {wanted.lower()})
                    tests.append(lambda r, allowed=allowed: str(r.get("status", "")).lower() in allowed)
                elif name == "contact_type":  # a "both" contact is a customer and a vendor
                    tests.append(lambda r, w=wanted: str(r.get("contact_type", "")).lower() in (w.lower(), "both"))
                else:
                    tests.append(lambda r, n=name, w=wanted: str(r.get(n, "")).lower() == w.lower())
        group, _, value = filter_by.partition(".")
        value = value.lower()
        if group == "Status" and value and value != "all":
            allowed = STATUS_ALIASES.get(value, {value})
            tests.append(lambda r: str(r.get("status", "")).lower() in allowed)
        elif group == "ItemType" and value and value != "all":
            tests.append(lambda r: str(r.get("item_type", "")).lower() == value)
        text = (args.get("search_text") or "").lower()
        if text:
            id_field = COLLECTIONS[collection].id_field
            number = id_field.replace("_id", "_number")
            tests.append(
                lambda r: any(
                    text in str(r.get(k, "")).lower()
                    for k in ("name", "contact_name", "sku", number, "reference_number")
                )
            )
        start, end = args.get("date_start"), args.get("date_end")
        if start:
            tests.append(lambda r: str(r.get("date", "")) >= start)
        if end:
            tests.append(lambda r: str(r.get("date", "")) <= end)
        if not tests:
            return None
        return lambda r: all(t(r) for t in tests)

    def detail(collection: str, zoho_id: str, view: str | None = None) -> Response:
        spec = WAREHOUSES if view == "warehouses" else COLLECTIONS[collection]
        record = sandbox.org.get(collection, zoho_id, view=view)
        if record is None:
            raise ApiError(404, 1002, f"{spec.label} does not exist.")
        if collection in BARE_DETAIL and view is None:  # as Zoho's spec shows these two: no envelope
            return json_response({"code": 0, "message": "success", **record})
        return json_response({"code": 0, "message": "success", spec.detail_key: record})

    def itemdetails() -> Response:
        raw = request.args.get("item_ids", "")
        ids = [i.strip() for i in raw.split(",") if i.strip()]
        if not ids:
            raise ApiError(400, 2, "Invalid value passed for item_ids")
        if len(ids) > MAX_ITEMDETAILS_IDS:
            raise ApiError(400, 2, f"item_ids accepts at most {MAX_ITEMDETAILS_IDS} ids")
        return json_response({"code": 0, "message": "success", "items": sandbox.org.get_many("items", ids)})

    def item_image(item_id: str) -> Response:
        org = sandbox.org
        if org.get("items", item_id) is None:
            raise ApiError(404, 1002, "Item does not exist.")
        found = org.image(item_id)
        if found is None:
            raise ApiError(404, 1002, "The image does not exist for this item.")
        data, content_type = image_bytes(*found)
        response = Response(data, status=200, mimetype=content_type)
        response.headers["Content-Disposition"] = f'inline; filename="{item_id}.{found[1]}"'
        return response

    def organizations(tail: list[str]) -> Response:
        org = sandbox.org
        record = {
            "organization_id": org.org_id,
            "name": "TSH",
            "contact_name": "TSH Admin",
            "email": "info@tsh.sale",
            "is_default_org": True,
            "language_code": "en",
            "fiscal_year_start_month": 0,
            "account_created_date": "2023-01-01",
            "time_zone": "Asia/Baghdad",
            "is_org_active": True,
            "currency_id": "2646610000000000099",
            "currency_code": "IQD",
            "currency_symbol": "IQD",
            "currency_format": "###,##0",
            "price_precision": 0,
        }
        if tail:
            if tail[0] != org.org_id:
                raise ApiError(404, 1002, "Organization does not exist.")
            return json_response({"code": 0, "message": "success", "organization": record})
        return json_response({"code": 0, "message": "success", "organizations": [record]})

    # ------------------------------------------------------------------ sandbox controls

    def body_json() -> dict[str, Any]:
        if not request.get_data():
            return {}
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise ApiError(400, 2, "body must be a JSON object")
        return data

    def control_error(status: int, message: str) -> Response:
        return json_response({"error": message}, status)

    @app.get("/sandbox/stats")
    def stats() -> Response:
        return json_response(sandbox.stats())

    @app.post("/sandbox/reset")
    def reset() -> Response:
        data = body_json()
        try:
            result = sandbox.reset(
                data.get("seed"),
                data.get("scale"),
                keep_config=_truthy(data.get("keep_config", False)),
                drop_tokens=_truthy(data.get("drop_tokens", False)),
                legacy_warehouses=data.get("legacy_warehouses"),
            )
        except (ConfigError, ValueError, TypeError) as e:
            return control_error(400, str(e))
        return json_response(result)

    @app.route("/sandbox/config", methods=["GET", "POST"])
    def config() -> Response:
        if request.method == "GET":
            return json_response(sandbox.config())
        try:
            return json_response(sandbox.configure(body_json()))
        except ConfigError as e:
            return control_error(400, str(e))

    @app.post("/sandbox/tokens/expire")
    def expire_tokens() -> Response:
        return json_response({"expired": sandbox.issuer.expire_all()})

    def with_webhook(change: Change, fire: bool, entity: str) -> dict[str, Any] | None:
        if not fire:
            return None
        return sandbox.emit(change, entity=entity).as_dict()

    @app.get("/sandbox/records/<entity>")
    def records(entity: str) -> Response:
        try:
            rows = sandbox.org.entity_records(entity)
        except UnknownEntity:
            return control_error(404, f"unknown entity {entity!r}")
        return json_response({"entity": entity, "count": len(rows), "records": rows})

    @app.get("/sandbox/records/<entity>/<zoho_id>")
    def record(entity: str, zoho_id: str) -> Response:
        try:
            row = sandbox.org.entity_record(entity, zoho_id)
        except UnknownEntity:
            return control_error(404, f"unknown entity {entity!r}")
        except RecordNotFound:
            return control_error(404, f"{entity}/{zoho_id} does not exist")
        return json_response({"entity": entity, "record": row})

    @app.post("/sandbox/records/<entity>/<zoho_id>/touch")
    def touch(entity: str, zoho_id: str) -> Response:
        data = body_json()
        try:
            change = sandbox.org.touch(entity, zoho_id, data.get("fields"))
        except UnknownEntity:
            return control_error(404, f"unknown entity {entity!r}")
        except RecordNotFound:
            return control_error(404, f"{entity}/{zoho_id} does not exist")
        except (InvalidRecord, ValueError, TypeError) as e:
            return control_error(400, str(e))
        fire = _truthy(data.get("webhook", request.args.get("webhook", False)))
        return json_response(
            {
                "entity": entity,
                "zoho_id": change.zoho_id,
                "record": change.record,
                "webhook": with_webhook(change, fire, entity),
            }
        )

    @app.post("/sandbox/records/<entity>")
    def create(entity: str) -> Response:
        data = body_json()
        try:
            change = sandbox.org.create(entity, data.get("record") or {})
        except UnknownEntity:
            return control_error(404, f"unknown entity {entity!r}")
        except (InvalidRecord, ValueError, TypeError) as e:
            return control_error(400, str(e))
        fire = _truthy(data.get("webhook", request.args.get("webhook", False)))
        return json_response(
            {
                "entity": entity,
                "zoho_id": change.zoho_id,
                "record": change.record,
                "webhook": with_webhook(change, fire, entity),
            },
            201,
        )

    @app.delete("/sandbox/records/<entity>/<zoho_id>")
    def delete(entity: str, zoho_id: str) -> Response:
        try:
            change = sandbox.org.delete(entity, zoho_id)
        except UnknownEntity:
            return control_error(404, f"unknown entity {entity!r}")
        except RecordNotFound:
            return control_error(404, f"{entity}/{zoho_id} does not exist")
        fire = _truthy(request.args.get("webhook", False)) or _truthy(body_json().get("webhook", False))
        return json_response(
            {
                "entity": entity,
                "zoho_id": change.zoho_id,
                "deleted": True,
                "record": change.record,
                "webhook": with_webhook(change, fire, entity),
            }
        )

    @app.get("/sandbox/webhooks")
    def recent_webhooks() -> Response:
        return json_response({"stats": sandbox.sender.stats(), "recent": sandbox.sender.recent()})

    @app.post("/sandbox/webhooks/fire")
    def fire() -> Response:
        data = body_json()
        entity, zoho_id = str(data.get("entity") or ""), str(data.get("zoho_id") or "")
        operation = str(data.get("operation") or "upsert")
        if operation not in ("upsert", "delete"):
            return control_error(400, "operation must be upsert or delete")
        try:
            change = sandbox.org.change_for(entity, zoho_id, operation)
        except UnknownEntity:
            return control_error(404, f"unknown entity {entity!r}")
        except RecordNotFound:
            return control_error(404, f"{entity}/{zoho_id} does not exist")
        retries = data.get("retries")
        delivery = sandbox.emit(change, honour_drop=False, retries=None if retries is None else int(retries))
        return json_response(delivery.as_dict())

    @app.route("/sandbox/live", methods=["GET", "POST"])
    def live() -> Response:
        if request.method == "POST":
            data = body_json()
            settings = {k: v for k, v in data.items() if k != "enabled"}
            try:
                if settings:
                    sandbox.configure(settings)
            except ConfigError as e:
                return control_error(400, str(e))
            if "enabled" in data:
                if _truthy(data["enabled"]):
                    sandbox.live.start()
                else:
                    sandbox.live.stop()
        return json_response(sandbox.live.stats())

    @app.post("/sandbox/live/tick")
    def live_tick() -> Response:
        data = body_json()
        ticks = int(data.get("ticks", 1))
        changes = data.get("changes")
        results = []
        for _ in range(max(0, ticks)):
            results.extend(sandbox.live.tick(None if changes is None else int(changes)))
        return json_response({"changes": results, "live": sandbox.live.stats()})

    return app


def sandbox_of(app: Flask) -> Sandbox:
    """The runtime state behind an app made by `create_sandbox_app`."""
    return app.extensions["zoho_sandbox"]

"""The Zoho Books / Inventory API client: every call budgeted, authenticated, timed out, classified and retried within bounds.

Each request first takes a slot from the shared `RateLimiter` (so the whole fleet
stays under Zoho's per-minute and daily limits), carries the shared OAuth token and
`organization_id`, and has connect/read timeouts. Answers are classified once, by
HTTP status *and* the body's `code` (Zoho sends non-zero codes with 200s and 4xxs
alike), into the `zoho.errors` classes the task layer acts on. Transient failures
and 429s are retried here a few times with exponential backoff and jitter,
honouring `Retry-After`; the total wait is capped so a Celery task never hangs for
minutes — past the cap the classified error goes up and the task layer parks it.
No secret (client secret, refresh token, access token) is ever put in a log line
or an exception message.
"""
from __future__ import annotations

import datetime as dt
import email.utils
import logging
import random
import threading
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from models.settings import get_settings
from zoho.entities import ApiSource
from zoho.errors import AuthError, NotFound, PermanentError, RateLimited, SyncError, TransientError
from zoho.fields import to_datetime
from zoho.oauth import TokenManager, scrub
from zoho.ratelimit import RateLimiter

log = logging.getLogger(__name__)

SERVICES = {"books": "/books/v3", "inventory": "/inventory/v1"}
PER_PAGE = 200  # Zoho's default and maximum
TIMEOUT = (5, 30)  # connect, read (seconds)
RATE_LIMIT_CODES = frozenset({43, 44, 45})
AUTH_CODES = frozenset({57})
NOT_FOUND_CODES = frozenset({1002})


class _TokenRejected(AuthError):
    """Zoho answered 401 / code 57 to this token: refresh once and retry before it becomes an AuthError."""


def format_since(value: dt.datetime) -> str:
    """Zoho's `last_modified_time` filter format: `2025-11-04T21:52:12+0300` (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from `Retry-After` (delta-seconds or an HTTP date), else Zoho's `X-Rate-Limit-Reset`."""
    for header in ("Retry-After", "X-Rate-Limit-Reset"):
        raw = (response.headers.get(header) or "").strip()
        if not raw:
            continue
        try:
            return max(0.0, float(raw))
        except ValueError:
            pass
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError):
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())
    return None


def row_modified(row: dict[str, Any]) -> dt.datetime | None:
    """A list row's version (`last_modified_time`, else `updated_time`); None when missing or unreadable.

    Unreadable is the transformer's business (it raises a mapping error), not the pager's.
    """
    for name in ("last_modified_time", "updated_time"):
        value = row.get(name)
        if value not in (None, ""):
            try:
                return to_datetime(value)
            except (TypeError, ValueError):
                return None
    return None


class ZohoClient:
    """One client per task or request; the budget and the token it uses are shared through Redis.

    `calls_made` counts HTTP requests this instance sent to Zoho (retries included),
    which is what a sync run reports as its API cost.
    """

    def __init__(
        self,
        tokens: TokenManager | None = None,
        limiter: RateLimiter | None = None,
        *,
        session: requests.Session | None = None,
        max_attempts: int = 4,
        max_total_wait: float = 20.0,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
        acquire_timeout: float = 30.0,
        pool_maxsize: int = 10,
        timeout: tuple[float, float] = TIMEOUT,
    ) -> None:
        self.tokens = tokens or TokenManager()
        self.limiter = limiter or RateLimiter()
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_maxsize, max_retries=0)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
        self.session = session
        self.max_attempts = max(1, max_attempts)
        self.max_total_wait = max_total_wait
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.acquire_timeout = acquire_timeout
        self.timeout = timeout  # (connect, read) on every request
        self.calls_made = 0
        self._count_lock = threading.Lock()

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> "ZohoClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ public API

    def get(self, service: str, path: str, params: dict[str, Any] | None = None,
            priority: str = "realtime") -> dict[str, Any]:
        """GET one Zoho resource; the JSON body once its envelope says `code: 0`."""
        return self._call(service, path, params, priority)[1]

    def fetch_page(self, source: ApiSource, since: dt.datetime | None = None, page: int = 1, priority: str = "bulk",
                   extra_params: dict[str, Any] | None = None) -> tuple[list[dict[str, Any]], dict[str, Any], bool]:
        """One page of a list: `(rows, page_context, more)`.

        With `since`, lists that honour filters are asked for rows modified at or after it
        (oldest first where the list sorts); lists that ignore them (Inventory `/bills`) are
        read whole and the older rows dropped here. A row whose timestamp cannot be read is
        kept: a needless re-sync is cheaper than a missed change. `more` is Zoho's
        `has_more_page`, except that an empty page never claims more: a misbehaving server
        must not keep a pager going forever.
        """
        params: dict[str, Any] = {**source.params, "per_page": PER_PAGE}
        if since is not None and source.filters_honoured:
            params["last_modified_time"] = format_since(since)
            if source.sortable:
                params.update(sort_column="last_modified_time", sort_order="A")
        params.update(extra_params or {})  # may narrow the list or ask for smaller pages
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.timezone.utc)
        body = self.get(source.service, source.path, {**params, "page": page}, priority)
        rows = source.rows_in(body) or []
        context = body.get("page_context") or {}
        if not isinstance(rows, list):
            raise PermanentError(f"Zoho {source.service} GET {source.path}: '{source.list_key}' is not a list")
        kept = rows
        if since is not None and not source.filters_honoured:
            kept = [r for r in rows if (row_modified(r) or since) >= since]
        return kept, context, bool(context.get("has_more_page")) and bool(rows)

    def iter_pages(self, source: ApiSource, since: dt.datetime | None = None, priority: str = "bulk",
                   extra_params: dict[str, Any] | None = None) -> Iterator[tuple[int, list[dict[str, Any]], dict[str, Any]]]:
        """Yield `(page_number, rows, page_context)` until Zoho says `has_more_page` is false (see `fetch_page`)."""
        page = 1
        while True:
            rows, context, more = self.fetch_page(source, since, page, priority, extra_params)
            yield page, rows, context
            if not more:
                return
            page += 1

    def get_record(self, source: ApiSource, zoho_id: str, priority: str = "realtime") -> dict[str, Any]:
        """The full record (documents: with line items) under `source.record_key`, by detail GET."""
        path = f"{source.path.rstrip('/')}/{quote(str(zoho_id), safe='')}"
        body = self.get(source.service, path, priority=priority)
        record = source.record_in(body)
        if not isinstance(record, dict):
            record = _record_in(body, str(zoho_id))
        if not isinstance(record, dict):
            raise PermanentError(f"Zoho {source.service} GET {path}: answer has no '{source.record_key}' record")
        return record

    def get_item_image(self, item_id: str, priority: str = "bulk") -> tuple[bytes, str] | None:
        """`(bytes, content_type)` of an Inventory item's image; None when it has none (or no longer exists)."""
        path = f"/items/{quote(str(item_id), safe='')}/image"
        try:
            response, _ = self._call("inventory", path, None, priority, expect_json=False)
        except NotFound:
            return None
        content_type = (response.headers.get("Content-Type") or "application/octet-stream").split(";")[0].strip()
        if "json" in content_type or not response.content:
            return None  # code 0 but no image bytes
        return response.content, content_type

    # ------------------------------------------------------------------ one call, retried

    def _url(self, service: str, path: str) -> str:
        if service not in SERVICES:
            raise ValueError(f"service must be one of {sorted(SERVICES)}, got {service!r}")
        return f"{get_settings().zoho_api_base_url}{SERVICES[service]}/{path.lstrip('/')}"

    def _backoff(self, attempt: int, retry_after: float | None) -> float:
        expo = min(self.backoff_cap, self.backoff_base * 2 ** (attempt - 1))
        delay = random.uniform(expo / 2, expo)  # "equal jitter": never zero, never in lockstep
        if retry_after:
            delay = max(delay, retry_after + random.uniform(0, min(1.0, self.backoff_base)))
        return delay

    def _call(self, service: str, path: str, params: dict[str, Any] | None, priority: str,
              *, expect_json: bool = True) -> tuple[requests.Response, Any]:
        """The successful response and its parsed body (None unless JSON), after bounded retries."""
        url = self._url(service, path)
        org_id = get_settings().zoho_organization_id
        if not org_id:
            raise PermanentError("ZOHO_ORGANIZATION_ID is not configured")
        query = {k: v for k, v in (params or {}).items() if v is not None}
        query["organization_id"] = org_id
        where = {"zoho_service": service, "zoho_path": path, "zoho_priority": priority}
        attempt, waited, auth_retried = 0, 0.0, False
        while True:
            attempt += 1
            token = self.tokens.get_token()  # first: a credentials problem should not spend a call slot
            self.limiter.acquire(priority, timeout=self.acquire_timeout)
            started = time.monotonic()
            with self._count_lock:
                self.calls_made += 1
            response, body = None, None
            try:
                response = self.session.get(url, params=query, timeout=self.timeout,
                                            headers={"Authorization": f"Zoho-oauthtoken {token}"})
            except requests.Timeout:
                error: SyncError | None = TransientError(f"Zoho {service} GET {path}: timed out")
            except requests.RequestException as e:
                error = TransientError(f"Zoho {service} GET {path}: {type(e).__name__}")
            else:
                error, body = self._classify(response, service, path, expect_json)
            elapsed_ms = int((time.monotonic() - started) * 1000)
            status = response.status_code if response is not None else None
            if error is None:
                log.debug("zoho call", extra={**where, "zoho_status": status, "attempt": attempt, "elapsed_ms": elapsed_ms})
                return response, body

            if isinstance(error, _TokenRejected):
                # One refresh and one retry; a second rejection is a scope / grant problem for a person.
                if not auth_retried and self.tokens.invalidate(token):
                    auth_retried = True
                    attempt -= 1
                    log.info("zoho rejected the access token; refreshing once", extra={**where, "zoho_status": status})
                    continue
                rejected, error = error, AuthError(str(error))
                error.http_status = rejected.http_status  # type: ignore[attr-defined]
                error.zoho_code = rejected.zoho_code  # type: ignore[attr-defined]
            if isinstance(error, RateLimited) and error.retry_after:
                self.limiter.pause(error.retry_after)  # every process waits, not just this one
            if isinstance(error, TransientError) and attempt < self.max_attempts:
                delay = self._backoff(attempt, getattr(error, "retry_after", None))
                if waited + delay <= self.max_total_wait:
                    log.warning("zoho call failed; retrying",
                                extra={**where, "zoho_status": status, "error_type": type(error).__name__,
                                       "attempt": attempt, "retry_in": round(delay, 3), "elapsed_ms": elapsed_ms})
                    time.sleep(delay)
                    waited += delay
                    continue
            log.warning("zoho call failed",
                        extra={**where, "zoho_status": status, "error_type": type(error).__name__,
                               "attempt": attempt, "elapsed_ms": elapsed_ms, "error": str(error)})
            raise error

    @staticmethod
    def _classify(response: requests.Response, service: str, path: str,
                  expect_json: bool) -> tuple[SyncError | None, Any]:
        """(error or None on success, parsed body): the class comes from the HTTP status *and* the body's `code`."""
        status = response.status_code
        content_type = response.headers.get("Content-Type") or ""
        body: Any = None
        if expect_json or "json" in content_type or status >= 400:
            try:
                body = response.json()
            except ValueError:
                body = None
        code: int | None = None
        message = ""
        if isinstance(body, dict):
            try:
                code = int(body.get("code")) if body.get("code") is not None else None
            except (TypeError, ValueError):
                code = None
            message = scrub(str(body.get("message") or ""))[:200]
        text = f"Zoho {service} GET {path}: HTTP {status}" + (f", code {code}" if code is not None else "") + (
            f": {message}" if message else "")

        error: SyncError | None
        if status == 429 or code in RATE_LIMIT_CODES:
            error = RateLimited(text, retry_after=_retry_after(response))
        elif status == 401 or code in AUTH_CODES:
            error = _TokenRejected(text)
        elif status >= 500 or status == 408:
            error = TransientError(text)
        elif code in NOT_FOUND_CODES or (status == 404 and "does not exist" in message.lower()):
            error = NotFound(text)
        elif 400 <= status < 500:
            error = PermanentError(text)
        elif not 200 <= status < 300:
            error = TransientError(text)  # 1xx/3xx here means a proxy in the way; try again
        elif expect_json and not isinstance(body, dict):
            error = TransientError(f"Zoho {service} GET {path}: HTTP {status} but the body is not a JSON object")
        elif code not in (None, 0):
            error = PermanentError(text)
        else:
            return None, body
        error.http_status = status  # type: ignore[attr-defined]
        error.zoho_code = code  # type: ignore[attr-defined]
        return error, body


def _record_in(body: dict[str, Any], zoho_id: str) -> dict[str, Any] | None:
    """The record of a detail answer under another envelope spelling (`vendorcredit` for `vendor_credit`),
    or the answer itself when Zoho puts the record at the top level (composite items, item groups):
    whichever carries the asked-for id in one of its `*_id` fields."""
    def carries(d: dict[str, Any]) -> bool:
        return any(k.endswith("_id") and str(v) == zoho_id for k, v in d.items() if isinstance(v, (str, int)))

    nested = [v for v in body.values() if isinstance(v, dict) and carries(v)]
    if len(nested) == 1:
        return nested[0]
    if carries(body):
        return {k: v for k, v in body.items() if k not in ("code", "message")}
    return None

"""Bulk pulls from Zoho: the safety net that makes webhooks a speed-up, never a requirement.

`bulk.pull(entity, full=False)` pages through every API source of an entity since its
cursor, records each changed record in `tds_sync_queue` (the same table, the same
dedupe, the same transformer and pipeline as a webhook), and publishes one
`sync.<entity>.process_batch` task per page. Rules:

- Only what moved is fetched and recorded: a row whose `last_modified_time` is not newer
  than what the ERP (or a queued event) already has is skipped; documents get their detail
  GET (for line items) only then. Stock is compared by content, because Zoho changes stock
  without touching an item's `last_modified_time`.
- The cursor advances in the same transaction that records a page, and only past rows
  durably recorded; a pull interrupted anywhere resumes from there without loss, and the
  overlap it steps back over is harmless (dedupe + newest-wins).
- Sortable lists are read by keyset (`last_modified_time >= cursor`, ascending, page 1 each
  time) so records changing during the pull cannot shift unseen rows across a page boundary.
- `full=True` reads every record and then deactivates ERP rows whose Zoho id no longer
  exists, through delete events in the same pipeline — and only after a complete scan.
- Entities that share a list (products and stock both read Inventory `/items`) are fed
  from the same pages: one API call serves both.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from sqlalchemy import text

from models import coord
from models.db import get_engine
from models.events import NewEvent, make_event, record_events
from models.settings import get_settings
from tasks import app
from tasks.publish import BROKER_ERRORS
from zoho.entities import ApiSource, Entity, get_entity, registry
from zoho.errors import NotFound, PermanentError, RateLimited
from zoho.fields import nul_path, to_zoho_id
from zoho.mapper import last_modified

log = logging.getLogger(__name__)

PER_PAGE = 200
OVERLAP = dt.timedelta(minutes=5)
KEYSET_FLOOR = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
LOCK_TTL_SECONDS = int(os.environ.get("BULK_PULL_LOCK_TTL", "300"))
"""Short, and renewed while the pull makes calls: a pull killed outright frees its list within minutes."""
DETAIL_CHUNK = 10
# How long one call may wait for a slot of the shared budget: a minute's window always frees
# one within 60 s; less than the lock's TTL, so the lock is renewed between calls.
BULK_ACQUIRE_TIMEOUT = min(120.0, LOCK_TTL_SECONDS / 2)
"""Documents are recorded every this many detail GETs, so a pull killed mid-page loses at most that many."""
CONTENT_COMPARED = {"stock"}
_RESOLVED: dict[str, ApiSource] = {}  # list key → the path this organisation answers at


def _no_such_url(error: Exception) -> bool:
    """Zoho's answer for a path the organisation does not have: HTTP 404, or code 5 "Invalid URL"."""
    return getattr(error, "http_status", None) == 404 or getattr(error, "zoho_code", None) == 5
"""Entities whose changes do not always move `last_modified_time`: compared by content (dedupe)."""


class PullLocked(Exception):
    """Another pull of the same entity is running; this one is skipped, not doubled."""


@dataclass
class RunStats:
    fetched: int = 0
    changed: int = 0
    skipped: int = 0
    failed: int = 0
    deleted: int = 0
    api_calls: int = 0
    pages: int = 0
    seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    changed_by: Counter[str] = field(default_factory=Counter)
    deleted_by: Counter[str] = field(default_factory=Counter)
    missing_by: Counter[str] = field(default_factory=Counter)  # in Zoho, not (or only as a placeholder) in the ERP
    stale_by: Counter[str] = field(default_factory=Counter)  # the ERP holds an older last_modified_time
    revived: int = 0  # already-recorded events run again because the ERP lost what they wrote
    missed_by: Counter[str] = field(default_factory=Counter)  # absent from a full scan, yet found by detail GET
    held: dict[str, dt.datetime] = field(default_factory=dict)  # source key → oldest row not recorded
    errors: list[str] = field(default_factory=list)


def _redis() -> redis.Redis:
    """The coordination store (`REDIS_URL`), never the broker: locks work with any broker."""
    return coord.client(socket_connect_timeout=3, socket_timeout=10)


def riders(entity: Entity) -> list[Entity]:
    """The entity plus every other entity fed by one of its API sources."""
    out = [entity]
    for other in registry().values():
        if other is not entity and any(src in other.sources for src in entity.sources):
            out.append(other)
    return out


def _fmt_since(value: dt.datetime) -> str:
    """Zoho's filter format: `2025-11-04T21:52:12+0300` (no colon in the offset)."""
    return value.strftime("%Y-%m-%dT%H:%M:%S%z")


def _row_lmt(row: dict[str, Any]) -> dt.datetime | None:
    try:
        return last_modified(row)
    except Exception:  # a malformed timestamp is the transformer's business, not the pager's
        return None


class Puller:
    """One run over one entity's sources; plain code so the CLI can drive it in the foreground."""

    def __init__(self, entity: Entity, *, full: bool, client=None, kind: str | None = None,
                 progress: Callable[[RunStats], None] | None = None, heartbeat: Callable[[], None] | None = None):
        self.entity = entity
        self.full = full
        self.kind = kind or ("full" if full else "incremental")
        self.progress = progress
        self.heartbeat = heartbeat or (lambda: None)
        self.stats = RunStats()
        self.engine = get_engine()
        if client is None:
            from zoho.client import ZohoClient

            # A pull is background work: it waits for a call slot as long as a window takes to
            # free one, instead of failing after the 80th call of a minute.
            client = ZohoClient(acquire_timeout=BULK_ACQUIRE_TIMEOUT)
        self.client = client
        self.targets = riders(entity)
        self.run_id: int | None = None
        self.started_at: dt.datetime | None = None  # the database's clock: bounds cursors and the sweep

    # -- bookkeeping ----------------------------------------------------------------------
    def _start_run(self) -> None:
        with self.engine.begin() as c:
            # We hold the list's lock, so a run of it still marked running died without a word.
            c.execute(text("UPDATE tds_sync_runs SET status = 'abandoned', finished_at = now(), "
                           "error_message = 'the process running this pull stopped before it finished' "
                           "WHERE status = 'running' AND entity_type = ANY(:names)"),
                      {"names": [t.name for t in self.targets]})
            self.run_id, self.started_at = c.execute(
                text("INSERT INTO tds_sync_runs (entity_type, kind, status) VALUES (:e, :k, 'running') "
                     "RETURNING id, started_at"),
                {"e": self.entity.name, "k": self.kind},
            ).one()

    def _save_stats(self, c, status: str | None = None, error: str | None = None, started: float | None = None) -> None:
        s = self.stats
        c.execute(
            text(
                """
                UPDATE tds_sync_runs SET fetched = :f, changed = :ch, skipped = :sk, failed = :fa, deleted = :d,
                       api_calls = :calls, status = COALESCE(:status, status), error_message = :err,
                       finished_at = CASE WHEN :status IS NULL THEN finished_at ELSE now() END,
                       duration_ms = CASE WHEN :ms IS NULL THEN duration_ms ELSE :ms END,
                       details = CAST(:details AS jsonb)
                 WHERE id = :id
                """
            ),
            {"f": s.fetched, "ch": s.changed, "sk": s.skipped, "fa": s.failed, "d": s.deleted,
             "calls": s.api_calls, "status": status, "err": error, "id": self.run_id,
             "ms": int((time.monotonic() - started) * 1000) if started else None,
             "details": json.dumps({"pages": s.pages, "errors": s.errors[:20],
                                    "entities": [t.name for t in self.targets],
                                    "changed_by": s.changed_by, "deleted_by": s.deleted_by,
                                    "missing_by": s.missing_by, "stale_by": s.stale_by, "revived": s.revived,
                                    "held": {k: v.isoformat() for k, v in s.held.items()}})},
        )

    def _cursor(self, source: ApiSource) -> dt.datetime | None:
        with self.engine.connect() as c:
            return c.execute(
                text("SELECT last_modified_at FROM tds_sync_cursors WHERE entity_type = :e AND source_key = :k"),
                {"e": self.entity.name, "k": source.key},
            ).scalar()

    def _advance_cursor(self, c, source: ApiSource, value: dt.datetime | None) -> None:
        c.execute(
            text(
                """
                INSERT INTO tds_sync_cursors (entity_type, source_key, last_modified_at, last_run_id)
                VALUES (:e, :k, :v, :run)
                ON CONFLICT (entity_type, source_key) DO UPDATE SET
                    last_modified_at = GREATEST(tds_sync_cursors.last_modified_at, EXCLUDED.last_modified_at),
                    last_run_id = EXCLUDED.last_run_id, updated_at = now()
                """
            ),
            {"e": self.entity.name, "k": source.key, "v": value, "run": self.run_id},
        )

    # -- reading Zoho ---------------------------------------------------------------------
    def _get(self, source: ApiSource, params: dict[str, Any]) -> dict[str, Any]:
        self.heartbeat()
        before = self.client.calls_made
        try:
            return self.client.get(source.service, source.path, params={**source.params, **params}, priority="bulk")
        finally:
            self.stats.api_calls += self.client.calls_made - before

    def _resolve(self, source: ApiSource) -> ApiSource:
        """The path this organisation serves the list at: the first of `source` and its fallbacks
        that does not answer "no such URL" (remembered per process; one probe call otherwise)."""
        if not source.fallbacks:
            return source
        known = _RESOLVED.get(source.key)
        if known is not None:
            return known
        candidates = (source, *source.fallbacks)
        for candidate in candidates:
            try:
                self._get(candidate, {"per_page": 1, "page": 1})
            except NotFound:
                raise
            except PermanentError as e:
                if candidate is candidates[-1] or not _no_such_url(e):
                    raise
                log.info("Zoho has no %s here; trying %s", candidate.path,
                         candidates[candidates.index(candidate) + 1].path, extra={"entity": self.entity.name})
                continue
            _RESOLVED[source.key] = candidate
            return candidate
        raise AssertionError("unreachable")

    def pages(self, source: ApiSource, since: dt.datetime | None) -> Iterator[list[dict[str, Any]]]:
        """Pages of rows modified at or after `since` (all rows when None), oldest first when sortable."""
        if since is not None and source.filters_honoured and source.sortable:
            yield from self._keyset_pages(source, since)
            return
        params: dict[str, Any] = {"per_page": PER_PAGE}
        if since is not None and source.filters_honoured:
            params["last_modified_time"] = _fmt_since(since)
        page = 1
        while True:
            body = self._get(source, {**params, "page": page})
            rows = source.rows_in(body) or []
            if since is not None and not source.filters_honoured:
                rows = [r for r in rows if (_row_lmt(r) or since) >= since]  # Zoho ignored the filter
            yield rows
            if not (body.get("page_context") or {}).get("has_more_page"):
                return
            page += 1

    def _keyset_pages(self, source: ApiSource, since: dt.datetime) -> Iterator[list[dict[str, Any]]]:
        cursor, page = since, 1
        while True:
            body = self._get(source, {"per_page": PER_PAGE, "page": page, "last_modified_time": _fmt_since(cursor),
                                      "sort_column": "last_modified_time", "sort_order": "A"})
            rows = source.rows_in(body) or []
            more = bool((body.get("page_context") or {}).get("has_more_page"))
            yield rows
            if not more or not rows:
                return
            last = _row_lmt(rows[-1])
            if last is None or last <= cursor:
                page += 1  # a whole page shares one timestamp: step through that group by offset
            else:
                cursor, page = last, 1

    # -- one page -------------------------------------------------------------------------
    def _known_versions(self, target: Entity, ids: list[str]) -> tuple[dict[str, dt.datetime | None],
                                                                          dict[str, dt.datetime]]:
        """(versions the ERP holds, newest version still waiting in the queue) per Zoho id.

        Only events not yet applied count as "waiting": a completed event says nothing about
        what the ERP holds now (a row restored from a backup or deleted by hand).
        """
        model = target.model
        key = model.zoho_key
        with self.engine.connect() as c:
            erp = dict(c.execute(
                text(f"SELECT {key}, zoho_last_modified_at FROM {model.__tablename__} WHERE {key} = ANY(:ids)"),
                {"ids": ids}).all())
            waiting = dict(c.execute(
                text("SELECT entity_id, max(zoho_last_modified_at) FROM tds_sync_queue WHERE entity_type = :e "
                     "AND entity_id = ANY(:ids) AND status IN ('pending', 'processing', 'failed') "
                     "AND zoho_last_modified_at IS NOT NULL GROUP BY entity_id"),
                {"e": target.name, "ids": ids}).all())
        return erp, waiting

    def _events_for_page(self, source: ApiSource, rows: list[dict[str, Any]]) -> tuple[list[NewEvent], dt.datetime | None]:
        """The events a page calls for, and how far the cursor may move past it.

        The cursor never passes a row that could not be recorded (no id, detail GET refused):
        the next run reads it again.
        """
        max_lmt = None
        held: dt.datetime | None = None
        events: list[NewEvent] = []

        def hold(row: dict[str, Any]) -> None:
            nonlocal held
            lmt = _row_lmt(row)
            if lmt is not None and (held is None or lmt < held):
                held = lmt

        for row in rows:
            lmt = _row_lmt(row)
            if lmt is not None and (max_lmt is None or lmt > max_lmt):
                max_lmt = lmt
        for target in self.targets:
            if not any(source == s or source in s.fallbacks for s in target.sources):
                continue  # (a list found at a fallback path, e.g. /settings/warehouses, serves its entity too)
            by_id: dict[str, dict[str, Any]] = {}
            for row in rows:
                raw_id = next((row.get(f) for f in target.record_keys.values() if row.get(f) not in (None, "")), None)
                try:
                    zid = to_zoho_id(raw_id)
                except ValueError:
                    zid = None
                if not zid:
                    self.stats.failed += 1
                    self.stats.errors.append(f"{target.name}: row without id")
                    hold(row)
                    continue
                by_id[zid] = row
                self.stats.seen[target.name].add(zid)
            compared = target.name not in CONTENT_COMPARED
            erp, waiting = self._known_versions(target, list(by_id)) if compared else ({}, {})
            for zid, row in by_id.items():
                lmt = _row_lmt(row)
                if compared:
                    in_erp = erp.get(zid)
                    if in_erp is None:
                        self.stats.missing_by[target.name] += 1
                    elif lmt is not None and in_erp < lmt:
                        self.stats.stale_by[target.name] += 1
                    have = max((v for v in (in_erp, waiting.get(zid)) if v is not None), default=None)
                    if have is not None and lmt is not None and lmt <= have:
                        self.stats.skipped += 1
                        continue
                record = row
                if source.detail:
                    try:
                        record = self._detail(source, zid)
                    except NotFound:
                        self.stats.skipped += 1  # deleted between the list and the detail: a full pull's sweep
                        self.stats.seen[target.name].discard(zid)  # must not count it as seen
                        continue
                    except PermanentError as e:
                        self.stats.failed += 1
                        self.stats.errors.append(f"{target.name} {zid}: {type(e).__name__}")
                        hold(row)
                        continue
                event = self._pulled_event(target, source, zid, record)
                if event is None:
                    hold(row)
                    continue
                events.append(event)
        if held is not None:
            self.stats.held[source.key] = min(held, self.stats.held.get(source.key, held))
        if self.stats.held.get(source.key) is not None and max_lmt is not None:
            max_lmt = min(max_lmt, self.stats.held[source.key])
        return events, max_lmt

    def _pulled_event(self, target: Entity, source: ApiSource, zid: str, record: dict[str, Any]) -> NewEvent | None:
        """The upsert event for a record read from Zoho; None (counted failed) if it cannot be recorded."""
        if nul_path(record):  # PostgreSQL text cannot hold it: the row could never be recorded
            self.stats.failed += 1
            self.stats.errors.append(f"{target.name} {zid}: a text field contains a NUL character")
            return None
        return make_event(target.name, zid, "upsert", {source.record_key: record}, _row_lmt(record), source="pull",
                          max_retries=get_settings().max_retries, sync_run_id=self.run_id)

    def _detail(self, source: ApiSource, zoho_id: str) -> dict[str, Any]:
        self.heartbeat()
        before = self.client.calls_made
        try:
            return self.client.get_record(source, zoho_id, priority="bulk")
        finally:
            self.stats.api_calls += self.client.calls_made - before

    def _record_page(self, source: ApiSource, events: list[NewEvent], max_lmt: dt.datetime | None,
                     advance: bool) -> list[tuple[str, int]]:
        """Record a page's events and move the cursor past them, in one transaction."""
        with self.engine.begin() as c:
            results = record_events(c, events)
            if advance and max_lmt is not None:
                self._advance_cursor(c, source, max_lmt)
            new = [(e.entity_type, event_id) for e, (event_id, created) in zip(events, results) if created]
            twins: dict[str, list[int]] = defaultdict(list)
            for e, (event_id, created) in zip(events, results):
                if not created and e.entity_type not in CONTENT_COMPARED:
                    twins[e.entity_type].append(event_id)
            revived = [row for name, ids in twins.items() for row in self._revive(c, name, ids)]
            self.stats.changed += len(new) + len(revived)
            self.stats.changed_by.update(name for name, _ in new + revived)
            self.stats.revived += len(revived)
            self.stats.skipped += len(events) - len(new) - len(revived)
            self._save_stats(c)
        return new + revived

    def _revive(self, c, entity_name: str, event_ids: list[int]) -> list[tuple[str, int]]:
        """Completed twins of this page's events whose rows the ERP no longer holds: run them again.

        The pull only records a version the ERP lacks; when that exact version was recorded
        and applied before (then the ERP row was deleted, or restored from an older backup),
        the dedupe key matches the old event and nothing new would be applied without this.
        """
        model = get_entity(entity_name).model
        key = model.zoho_key
        rows = c.execute(
            text(
                f"""
                UPDATE tds_sync_queue q SET status = 'pending', retry_count = 0, next_attempt_at = NULL,
                       locked_until = NULL, error_message = NULL, completed_at = NULL, result = NULL,
                       sync_run_id = :run, enqueued_at = now(), updated_at = now()
                 WHERE q.id = ANY(:ids) AND q.status = 'completed' AND q.operation = 'upsert'
                   AND q.zoho_last_modified_at IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM {model.__tablename__} t WHERE t.{key} = q.entity_id
                                      AND t.zoho_last_modified_at >= q.zoho_last_modified_at)
             RETURNING q.entity_type, q.id
                """
            ),
            {"ids": event_ids, "run": self.run_id},
        ).all()
        return [(r.entity_type, r.id) for r in rows]

    # -- the run --------------------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        started = time.monotonic()
        self._start_run()
        status, error = "completed", None
        try:
            for source in map(self._resolve, self.entity.sources):
                self._pull_source(source)
            if self.full:
                self._sweep_deletions()
        except RateLimited as e:
            # The day's budget (or Zoho's own 429 pause) outlasts any sensible wait: what was
            # recorded stays recorded, the cursor sits after it, the next scheduled run resumes.
            status, error = "rate_limited", f"{type(e).__name__}: {e}"[:2000]
            log.warning("pull stopped by the Zoho call budget: %s", error, extra={"entity": self.entity.name})
        except Exception as e:
            status, error = "failed", f"{type(e).__name__}: {e}"[:2000]
            log.warning("pull failed: %s", error, extra={"entity": self.entity.name})
            raise
        finally:
            with self.engine.begin() as c:
                self._save_stats(c, status=status, error=error, started=started)
                if status == "completed" and self.full:
                    c.execute(text("UPDATE tds_sync_cursors SET last_full_sync_at = now() WHERE entity_type = :e"),
                              {"e": self.entity.name})
        return self.summary(status)

    def summary(self, status: str) -> dict[str, Any]:
        s = self.stats
        return {"run_id": self.run_id, "entity": self.entity.name, "kind": self.kind, "status": status,
                "fetched": s.fetched, "changed": s.changed, "skipped": s.skipped, "failed": s.failed,
                "deleted": s.deleted, "api_calls": s.api_calls, "pages": s.pages,
                "changed_by": dict(s.changed_by), "deleted_by": dict(s.deleted_by),
                "missing_by": dict(s.missing_by), "stale_by": dict(s.stale_by), "revived": s.revived,
                "missed_by": dict(s.missed_by),
                "seen_by": {name: len(ids) for name, ids in s.seen.items()}}

    def _pull_source(self, source: ApiSource) -> None:
        cursor = None if self.full else self._cursor(source)
        since = cursor - OVERLAP if cursor else None
        if since is None and not self.full and source.filters_honoured and source.sortable:
            since = KEYSET_FLOOR  # a first pull by keyset too: interrupted, it resumes instead of starting over
        # Sorted lists let the cursor follow each page; otherwise it moves only after the last page.
        per_page_cursor = bool(since is not None and source.filters_honoured and source.sortable)
        run_max: dt.datetime | None = None
        for rows in self.pages(source, since):
            self.stats.pages += 1
            self.stats.fetched += len(rows)
            size = DETAIL_CHUNK if source.detail else max(len(rows), 1)
            for start in range(0, max(len(rows), 1), size):
                events, max_lmt = self._events_for_page(source, rows[start:start + size])
                new = self._record_page(source, events, max_lmt, advance=per_page_cursor)
                if max_lmt is not None and (run_max is None or max_lmt > run_max):
                    run_max = max_lmt
                publish_batches(new)
            if self.progress:
                self.progress(self.stats)
        if not per_page_cursor and run_max is not None:
            # An unsorted scan saw early pages before later edits: a record edited during the
            # scan on a page already read is only safe if the cursor stays at the scan's start.
            held = self.stats.held.get(source.key)
            limit = min(v for v in (run_max, held, self.started_at) if v is not None)
            with self.engine.begin() as c:
                self._advance_cursor(c, source, limit)

    def _sweep_deletions(self) -> None:
        """After a complete scan: ERP rows whose Zoho id was not seen are deactivated (delete events).

        Only rows the ERP already held when the scan started: one a webhook brought in while
        the scan ran (created after its page was read) is not evidence of a deletion. Nor is
        absence from an offset-paged scan on its own: a record created or deleted mid-scan
        shifts the pages after it, and one row can slip between two pages unseen. So each
        candidate is confirmed by a detail GET (one call per deletion, none when nothing is
        gone): "does not exist" deactivates it; a record still there is recorded as pulled.
        """
        for target in self.targets:
            if target.name in CONTENT_COMPARED or not target.sources:
                continue
            seen = sorted(self.stats.seen.get(target.name, set()))
            model = target.model
            key = model.zoho_key
            with self.engine.connect() as c:
                gone = list(c.execute(
                    text(f"SELECT {key} FROM {model.__tablename__} WHERE is_active AND {key} <> ALL(:seen) "
                         f"AND zoho_last_modified_at IS NOT NULL AND last_synced_at < :started ORDER BY {key}"),
                    {"seen": seen, "started": self.started_at}).scalars())
            source = self._resolve(target.sources[0])
            id_field = next(iter(target.record_keys.values()))
            for start in range(0, len(gone), DETAIL_CHUNK):  # recorded as it goes: a budget stop keeps the rest
                events: list[NewEvent] = []
                deleted = 0
                for zid in gone[start:start + DETAIL_CHUNK]:
                    try:
                        record = self._detail(source, zid)
                    except NotFound:
                        record = None
                    except PermanentError as e:
                        if not _no_such_url(e):
                            self.stats.failed += 1
                            self.stats.errors.append(f"{target.name} {zid}: deletion not confirmed: {type(e).__name__}")
                            continue
                        record = None  # this list has no detail GET here: the complete scan is the evidence
                    if record is None:
                        events.append(make_event(target.name, zid, "delete", {target.record_key: {id_field: zid}},
                                                 None, source="sweep", sync_run_id=self.run_id))
                        deleted += 1
                        continue
                    event = self._pulled_event(target, source, zid, record)
                    if event is not None:  # still in Zoho: the scan missed it, so bring it in as a pull would have
                        self.stats.seen[target.name].add(zid)
                        self.stats.missed_by[target.name] += 1
                        events.append(event)
                if not events:
                    continue
                with self.engine.begin() as c:
                    results = record_events(c, events)
                self.stats.deleted += deleted
                self.stats.deleted_by[target.name] += deleted
                publish_batches([(target.name, i) for i, created in results if created])


def publish_batches(events: list[tuple[str, int]], size: int = PER_PAGE) -> int:
    """One `sync.<entity>.process_batch` per entity and page; unsent ones stay pending for the healer."""
    by_entity: dict[str, list[int]] = defaultdict(list)
    for name, event_id in events:
        by_entity[name].append(event_id)
    sent = 0
    try:
        with app.producer_or_acquire() as producer:
            for name, ids in by_entity.items():
                entity = get_entity(name)
                for i in range(0, len(ids), size):
                    app.send_task(f"sync.{name}.process_batch", args=[ids[i:i + size]], queue=entity.queue,
                                  routing_key=entity.queue, producer=producer)
                    sent += len(ids[i:i + size])
    except BROKER_ERRORS as e:
        log.warning("broker unreachable while publishing a page: %s", type(e).__name__)
    return sent


def lock_name(entity: Entity) -> str:
    """One lock per list: entities fed by the same pages (products, stock) share it."""
    return f"zohosync:lock:bulk.pull:{entity.sources[0].key}"


def pull_entity(entity_name: str, full: bool = False, *, client=None, progress=None, kind: str | None = None) -> dict:
    """Run one pull under the entity's lock; raises `PullLocked` when one is already running."""
    entity = get_entity(entity_name)
    if entity is None:
        raise PermanentError(f"unknown entity {entity_name!r}")
    if not entity.sources:
        raise PermanentError(f"{entity_name} has no Zoho API source to pull from")
    lock = _redis().lock(lock_name(entity), timeout=LOCK_TTL_SECONDS, blocking=False)
    if not lock.acquire(blocking=False):
        raise PullLocked(f"a pull of {entity_name} is already running")
    renewed = [time.monotonic()]

    def heartbeat() -> None:
        """Renew the lock while calls are made; a pull that lost it stops rather than run twice."""
        if time.monotonic() - renewed[0] > LOCK_TTL_SECONDS / 5:
            lock.reacquire()
            renewed[0] = time.monotonic()

    try:
        return Puller(entity, full=full, client=client, progress=progress, kind=kind, heartbeat=heartbeat).run()
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            log.warning("pull lock expired before the pull finished", extra={"entity": entity_name})


@app.task(name="bulk.pull", bind=True, acks_late=False, ignore_result=True, soft_time_limit=2 * 3600,
          time_limit=2 * 3600 + 60)
def pull(self, entity: str, full: bool = False) -> dict:
    """Paged pull since the cursor (or everything, with deletion detection, when `full`).

    Acknowledged on receipt (not late): a pull can outlive the broker's visibility timeout,
    and an interrupted one loses nothing — the next scheduled run resumes from the cursor.
    """
    try:
        return pull_entity(entity, full=full)
    except PullLocked as e:
        log.info(str(e), extra={"entity": entity})
        return {"entity": entity, "status": "skipped", "reason": "already running"}


@app.task(name="bulk.pull_all", ignore_result=True)
def pull_all(full: bool = False) -> dict:
    """Enqueue a pull of every entity whose list is not already pulled by another (riders share pages)."""
    sent, covered = [], set()
    for entity in registry().values():
        if not entity.sources or entity.sources[0].key in covered:
            continue
        covered.update(s.key for s in entity.sources)
        pull.apply_async(args=[entity.name], kwargs={"full": full})
        sent.append(entity.name)
    return {"enqueued": sent, "full": full}


__all__ = ["pull", "pull_all", "pull_entity", "Puller", "PullLocked", "publish_batches"]

"""Bulk pulls from Zoho: the safety net that makes webhooks a speed-up, never a requirement.

`bulk.pull(entity, full=False)` pages through every API source of an entity since its
cursor, records each changed record in `tds_sync_queue` (the same table, the same
dedupe, the same transformer and pipeline as a webhook), and publishes one
`sync.<entity>.process_batch` task per page. Rules:

- Fair: a pull never holds a worker slot for more than one page (a document list: one
  chunk of detail GETs). It advances as a chain of `bulk.pull_page` tasks, each doing one
  step and enqueuing the next at the back of the queue, with its position kept in the run
  row (`tds_sync_runs.page_state`). Pulls of different entities therefore interleave, and
  one asked for while a long pull runs starts after at most one step of each running pull.
  Catalog and contact pulls are published with a higher priority than document pulls.
- One pull per list at a time: a lock in the coordination store, renewed by every step.
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
  exists, through delete events in the same pipeline — and only after a complete scan (the
  ids seen are kept in `tds_sync_run_seen`, so the scan can span many page tasks).
- Entities that share a list (products and stock both read Inventory `/items`) are fed
  from the same pages: one API call serves both.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
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
from zoho.client import row_modified
from zoho.entities import ApiSource, Entity, get_entity, registry
from zoho.errors import NotFound, PermanentError, RateLimited, TransientError
from zoho.fields import nul_path, to_zoho_id

log = logging.getLogger(__name__)

PER_PAGE = 200
OVERLAP = dt.timedelta(minutes=5)
KEYSET_FLOOR = dt.datetime(2000, 1, 1, tzinfo=dt.timezone.utc)
LOCK_TTL_SECONDS = int(os.environ.get("BULK_PULL_LOCK_TTL", "600"))
"""Renewed by every step of a pull: a chain that died frees its list within this many seconds."""
DETAIL_CHUNK = 10
"""Documents are recorded every this many detail GETs, so a pull killed mid-page loses at most that many;
it is also one step of a document pull, so no pull holds a worker slot for longer than that."""
# How long one call may wait for a slot of the shared budget: a minute's window always frees
# one within 60 s; less than the lock's TTL, so the lock is renewed between calls.
BULK_ACQUIRE_TIMEOUT = min(120.0, LOCK_TTL_SECONDS / 2)
TRANSIENT_RETRIES = 5
TRANSIENT_BACKOFF_SECONDS = 5
"""A chained step that failed transiently runs again after 5, 10, 15 … s; the sixth failure in a row fails the run."""
CONTENT_COMPARED = {"stock"}
"""Entities whose changes do not always move `last_modified_time`: compared by content (dedupe)."""
_RESOLVED: dict[str, ApiSource] = {}  # list key → the path this organisation answers at


def _no_such_url(error: Exception) -> bool:
    """Zoho's answer for a path the organisation does not have: HTTP 404, or code 5 "Invalid URL"."""
    return getattr(error, "http_status", None) == 404 or getattr(error, "zoho_code", None) == 5


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
    seen: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # this step's; kept in the DB
    seen_by: Counter[str] = field(default_factory=Counter)
    changed_by: Counter[str] = field(default_factory=Counter)
    deleted_by: Counter[str] = field(default_factory=Counter)
    missing_by: Counter[str] = field(default_factory=Counter)  # in Zoho, not (or only as a placeholder) in the ERP
    stale_by: Counter[str] = field(default_factory=Counter)  # the ERP holds an older last_modified_time
    revived: int = 0  # already-recorded events run again because the ERP lost what they wrote
    missed_by: Counter[str] = field(default_factory=Counter)  # absent from a full scan, yet found by detail GET
    held: dict[str, dt.datetime] = field(default_factory=dict)  # source key → oldest row not recorded
    errors: list[str] = field(default_factory=list)

    def details(self) -> dict[str, Any]:
        return {"pages": self.pages, "errors": self.errors[:20], "changed_by": self.changed_by,
                "deleted_by": self.deleted_by, "missing_by": self.missing_by, "stale_by": self.stale_by,
                "missed_by": self.missed_by, "seen_by": self.seen_by, "revived": self.revived,
                "held": {k: v.isoformat() for k, v in self.held.items()}}

    @classmethod
    def from_row(cls, row: Any) -> RunStats:
        d = row.details or {}
        return cls(fetched=row.fetched, changed=row.changed, skipped=row.skipped, failed=row.failed,
                   deleted=row.deleted, api_calls=row.api_calls, pages=d.get("pages", 0),
                   errors=list(d.get("errors", [])), changed_by=Counter(d.get("changed_by", {})),
                   deleted_by=Counter(d.get("deleted_by", {})), missing_by=Counter(d.get("missing_by", {})),
                   stale_by=Counter(d.get("stale_by", {})), missed_by=Counter(d.get("missed_by", {})),
                   seen_by=Counter(d.get("seen_by", {})), revived=d.get("revived", 0),
                   held={k: dt.datetime.fromisoformat(v) for k, v in (d.get("held") or {}).items()})


def _redis() -> redis.Redis:
    """The coordination store (`REDIS_URL`), never the broker: locks work with any broker."""
    return coord.client(socket_connect_timeout=3, socket_timeout=10)


class PullLock:
    """One pull per list, across the page tasks of a chain: the owner's token is kept in its run row.

    A plain `SET NX PX` with compare-and-renew / compare-and-delete scripts, because the
    owner changes process between steps (redis-py's `Lock` keeps its token per thread).
    """

    _RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
    _RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"

    def __init__(self, entity: Entity, token: str | None = None):
        self.name = lock_name(entity)
        self.token = token or uuid.uuid4().hex
        self.client = _redis()
        self.renewed = 0.0

    def acquire(self) -> bool:
        ok = bool(self.client.set(self.name, self.token, nx=True, px=LOCK_TTL_SECONDS * 1000))
        self.renewed = time.monotonic()
        return ok

    def renew(self) -> bool:
        self.renewed = time.monotonic()
        return bool(self.client.eval(self._RENEW, 1, self.name, self.token, LOCK_TTL_SECONDS * 1000))

    def heartbeat(self) -> None:
        """Renew while calls are made; a pull that lost its lock stops rather than run twice."""
        if time.monotonic() - self.renewed > LOCK_TTL_SECONDS / 5 and not self.renew():
            raise PullLocked("this pull's lock expired and another pull took the list over")

    def release(self) -> None:
        if not self.client.eval(self._RELEASE, 1, self.name, self.token):
            log.warning("pull lock expired before the pull finished", extra={"lock": self.name})


def riders(entity: Entity) -> list[Entity]:
    """The entity plus every other entity fed by one of its API sources."""
    out = [entity]
    for other in registry().values():
        if other is not entity and any(src in other.sources for src in entity.sources):
            out.append(other)
    return out


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _dt(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class Puller:
    """One run over one entity's sources, one step at a time; plain code so the CLI can drive it in the foreground.

    `begin()` opens the run row; each `step()` reads one page (or one chunk of a document
    page's detail GETs, or one chunk of the deletion sweep), records what it found and saves
    its position (`page_state`) in the same transaction, and says whether more remains;
    `finish()` closes the run. `Puller.load(run_id)` picks a run up in another process.
    """

    def __init__(self, entity: Entity, *, full: bool, client=None, kind: str | None = None,
                 progress: Callable[[RunStats], None] | None = None, heartbeat: Callable[[], None] | None = None,
                 since: dt.datetime | None = None):
        self.entity = entity
        self.full = full
        self.since = since  # an operator's `modified_since`: read from there instead of the cursor
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
        self.state: dict[str, Any] = {}

    # -- bookkeeping ----------------------------------------------------------------------
    def begin(self, token: str | None = None) -> int:
        """Open the run row (the caller holds the list's lock) and position it before the first page."""
        with self.engine.begin() as c:
            # We hold the list's lock, so a run of it still marked running died without a word.
            c.execute(text("UPDATE tds_sync_runs SET status = 'abandoned', finished_at = now(), page_state = NULL, "
                           "error_message = 'the process running this pull stopped before it finished' "
                           "WHERE status = 'running' AND entity_type = ANY(:names)"),
                      {"names": [t.name for t in self.targets]})
            self.run_id, self.started_at = c.execute(
                text("INSERT INTO tds_sync_runs (entity_type, kind, status) VALUES (:e, :k, 'running') "
                     "RETURNING id, started_at"),
                {"e": self.entity.name, "k": self.kind},
            ).one()
            self.state = {"token": token, "full": self.full, "step": 0, "phase": "pages", "resolved": {},
                          "since_override": _iso(self.since)}
            self._enter_source(0)
            self._save_stats(c)
        return self.run_id

    @classmethod
    def load(cls, run_id: int, *, client=None, heartbeat: Callable[[], None] | None = None) -> Puller | None:
        """The running pull `run_id`, as its last step left it; None when it is no longer running."""
        with get_engine().connect() as c:
            row = c.execute(text("SELECT * FROM tds_sync_runs WHERE id = :i"), {"i": run_id}).first()
        if row is None or row.status != "running" or not row.page_state:
            return None
        entity = get_entity(row.entity_type)
        puller = cls(entity, full=bool(row.page_state.get("full")), client=client, kind=row.kind, heartbeat=heartbeat)
        puller.run_id, puller.started_at, puller.state = row.id, row.started_at, dict(row.page_state)
        puller.stats = RunStats.from_row(row)
        return puller

    def _save_stats(self, c, status: str | None = None, error: str | None = None) -> None:
        s = self.stats
        c.execute(
            text(
                """
                UPDATE tds_sync_runs SET fetched = :f, changed = :ch, skipped = :sk, failed = :fa, deleted = :d,
                       api_calls = :calls, status = COALESCE(:status, status), error_message = :err,
                       finished_at = CASE WHEN :status IS NULL THEN finished_at ELSE now() END,
                       duration_ms = CASE WHEN :status IS NULL THEN duration_ms
                                          ELSE (extract(epoch FROM now() - started_at) * 1000)::int END,
                       details = CAST(:details AS jsonb),
                       page_state = CASE WHEN :status IS NULL THEN CAST(:state AS jsonb) END
                 WHERE id = :id
                """
            ),
            {"f": s.fetched, "ch": s.changed, "sk": s.skipped, "fa": s.failed, "d": s.deleted,
             "calls": s.api_calls, "status": status, "err": error, "id": self.run_id,
             "details": json.dumps({**s.details(), "entities": [t.name for t in self.targets]}),
             "state": json.dumps(self.state)},
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
    def _counted(self, call: Callable[[], Any]) -> Any:
        self.heartbeat()
        before = self.client.calls_made
        try:
            return call()
        finally:
            self.stats.api_calls += self.client.calls_made - before

    def _get(self, source: ApiSource, params: dict[str, Any]) -> dict[str, Any]:
        return self._counted(lambda: self.client.get(source.service, source.path,
                                                     params={**source.params, **params}, priority="bulk"))

    def _resolve(self, source: ApiSource) -> ApiSource:
        """The path this organisation serves the list at: the first of `source` and its fallbacks
        that does not answer "no such URL" (kept in the run's state and per process; one probe call otherwise)."""
        if not source.fallbacks:
            return source
        candidates = (source, *source.fallbacks)
        known = _RESOLVED.get(source.key)
        if known is None:
            known = next((c for c in candidates if c.key == self.state.get("resolved", {}).get(source.key)), None)
        if known is not None:
            return known
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
            self.state.setdefault("resolved", {})[source.key] = candidate.key
            return candidate
        raise AssertionError("unreachable")

    def _fetch_page(self, source: ApiSource, since: dt.datetime | None, page: int) -> tuple[list[dict[str, Any]], bool]:
        """One page through the client's pager (the only one): `(rows, more)`."""
        rows, _, more = self._counted(lambda: self.client.fetch_page(source, since, page, priority="bulk"))
        return rows, more

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
            lmt = row_modified(row)
            if lmt is not None and (held is None or lmt < held):
                held = lmt

        for row in rows:
            lmt = row_modified(row)
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
                lmt = row_modified(row)
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
        return make_event(target.name, zid, "upsert", {source.record_key: record}, row_modified(record), source="pull",
                          max_retries=get_settings().max_retries, sync_run_id=self.run_id)

    def _detail(self, source: ApiSource, zoho_id: str) -> dict[str, Any]:
        self.heartbeat()
        before = self.client.calls_made
        try:
            return self.client.get_record(source, zoho_id, priority="bulk")
        finally:
            self.stats.api_calls += self.client.calls_made - before

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

    def _commit(self, events: list[NewEvent], cursors: list[tuple[ApiSource, dt.datetime]]) -> list[tuple[str, int]]:
        """Record a step's events, move cursors past them and save the run's position: one transaction."""
        with self.engine.begin() as c:
            results = record_events(c, events)
            for source, value in cursors:
                self._advance_cursor(c, source, value)
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
            self._flush_seen(c)
            self._save_stats(c)
        return new + revived

    def _flush_seen(self, c) -> None:
        """This step's seen ids: counted, and for a full pull kept for the sweep (in key order)."""
        rows = [{"r": self.run_id, "e": name, "z": zid} for name, ids in sorted(self.stats.seen.items())
                for zid in sorted(ids)]
        for name, ids in self.stats.seen.items():
            self.stats.seen_by[name] += len(ids)
        self.stats.seen.clear()
        if rows and self.full:
            c.execute(text("INSERT INTO tds_sync_run_seen (run_id, entity_type, zoho_id) VALUES (:r, :e, :z) "
                           "ON CONFLICT DO NOTHING"), rows)

    # -- the run, step by step ------------------------------------------------------------
    def _enter_source(self, index: int) -> None:
        """Position the run at the first page of source `index` (its flags are read once resolved)."""
        source = self.entity.sources[index]
        cursor = None if self.full else self._cursor(source)
        since = cursor - OVERLAP if cursor else None
        if not self.full and self.state.get("since_override"):
            since = _dt(self.state["since_override"])
        if since is None and not self.full and source.filters_honoured and source.sortable:
            since = KEYSET_FLOOR  # a first pull by keyset too: interrupted, it resumes instead of starting over
        self.state.update(source=index, since=_iso(since), key_cursor=_iso(since), page=1, run_max=None,
                          rows=None, offset=0, more=False)

    def step(self) -> bool:
        """Do one page (or one chunk of details, or one chunk of the sweep); True while work remains."""
        phase = self.state.get("phase")
        self.state["step"] = self.state.get("step", 0) + 1  # saved with the step's work: a re-delivery is seen
        if phase == "pages":
            self._page_step()
        elif phase == "sweep":
            self._sweep_step()
        return self.state.get("phase") != "done"

    def _page_step(self) -> None:
        st = self.state
        source = self._resolve(self.entity.sources[st["source"]])
        since = _dt(st["since"])
        # Sorted lists let the cursor follow each page; otherwise it moves only after the last page.
        keyset = bool(since is not None and source.filters_honoured and source.sortable)
        if st["rows"] is None:
            rows, more = self._fetch_page(source, _dt(st["key_cursor"]) if keyset else since, st["page"])
            self.stats.pages += 1
            self.stats.fetched += len(rows)
            st.update(rows=rows, offset=0, more=more)
        rows = st["rows"]
        size = DETAIL_CHUNK if source.detail else max(len(rows), 1)
        events, max_lmt = self._events_for_page(source, rows[st["offset"]:st["offset"] + size])
        st["offset"] += size
        if max_lmt is not None and (st["run_max"] is None or max_lmt > _dt(st["run_max"])):
            st["run_max"] = _iso(max_lmt)
        cursors = [(source, max_lmt)] if keyset and max_lmt is not None else []
        page_done = st["offset"] >= len(rows)
        if page_done:
            st["rows"] = None
            last = row_modified(rows[-1]) if rows else None
            if st["more"] and keyset and last is not None and last > _dt(st["key_cursor"]):
                st.update(key_cursor=_iso(last), page=1)
            elif st["more"]:
                st["page"] += 1  # (keyset: a whole page shares one timestamp: step through that group by offset)
            else:
                if not keyset and st["run_max"] is not None:
                    # An unsorted scan saw early pages before later edits: a record edited during the
                    # scan on a page already read is only safe if the cursor stays at the scan's start.
                    held = self.stats.held.get(source.key)
                    limit = min(v for v in (_dt(st["run_max"]), held, self.started_at) if v is not None)
                    cursors.append((source, limit))
                if st["source"] + 1 < len(self.entity.sources):
                    self._enter_source(st["source"] + 1)
                else:
                    st.update(phase="sweep" if self.full else "done", target=0, after=None, rows=None)
        publish_batches(self._commit(events, cursors))
        if page_done and self.progress:
            self.progress(self.stats)

    def _sweep_step(self) -> None:
        """One chunk of the deletion sweep, after a complete scan: ERP rows whose Zoho id was not seen.

        Only rows the ERP already held when the scan started: one a webhook brought in while
        the scan ran (created after its page was read) is not evidence of a deletion. Nor is
        absence from an offset-paged scan on its own: a record created or deleted mid-scan
        shifts the pages after it, and one row can slip between two pages unseen. So each
        candidate is confirmed by a detail GET (one call per deletion, none when nothing is
        gone): "does not exist" deactivates it; a record still there is recorded as pulled.
        """
        st = self.state
        targets = [t for t in self.targets if t.name not in CONTENT_COMPARED and t.sources]
        if st["target"] >= len(targets):
            st["phase"] = "done"
            self._commit([], [])
            return
        target = targets[st["target"]]
        model = target.model
        key = model.zoho_key
        with self.engine.connect() as c:
            gone = list(c.execute(
                text(f"SELECT t.{key} FROM {model.__tablename__} t WHERE t.is_active "
                     f"AND t.zoho_last_modified_at IS NOT NULL AND t.last_synced_at < :started "
                     f"AND (CAST(:after AS text) IS NULL OR t.{key} > :after) "
                     f"AND NOT EXISTS (SELECT 1 FROM tds_sync_run_seen s WHERE s.run_id = :run "
                     f"AND s.entity_type = :e AND s.zoho_id = t.{key}) ORDER BY t.{key} LIMIT :n"),
                {"started": self.started_at, "after": st["after"], "run": self.run_id, "e": target.name,
                 "n": DETAIL_CHUNK}).scalars())
        if not gone:
            st.update(target=st["target"] + 1, after=None)
            self._commit([], [])
            return
        st["after"] = gone[-1]
        source = self._resolve(target.sources[0])
        id_field = next(iter(target.record_keys.values()))
        events: list[NewEvent] = []
        deleted = 0
        for zid in gone:  # recorded chunk by chunk: a budget stop keeps the rest for the next full pull
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
        self.stats.deleted += deleted
        self.stats.deleted_by[target.name] += deleted
        with self.engine.begin() as c:
            results = record_events(c, events)
            self._flush_seen(c)
            self._save_stats(c)
        publish_batches([(e.entity_type, i) for e, (i, created) in zip(events, results) if created])

    def finish(self, status: str, error: str | None = None) -> dict[str, Any]:
        """Close the run row; a completed full pull stamps the cursors, and its seen ids are dropped."""
        with self.engine.begin() as c:
            if self.full:
                for name, n in c.execute(text("SELECT entity_type, count(*) FROM tds_sync_run_seen WHERE run_id = :r "
                                              "GROUP BY entity_type"), {"r": self.run_id}).all():
                    self.stats.seen_by[name] = n  # distinct ids, not rows read (pages overlap)
            self._save_stats(c, status=status, error=error)
            if status == "completed" and self.full:
                c.execute(text("UPDATE tds_sync_cursors SET last_full_sync_at = now() WHERE entity_type = :e"),
                          {"e": self.entity.name})
            c.execute(text("DELETE FROM tds_sync_run_seen WHERE run_id = :r"), {"r": self.run_id})
        summary = self.summary(status)
        if self.kind == "reconcile" and status == "completed":
            from tasks.reconcile import record_result

            summary["report"] = record_result(summary)
        return summary

    def run(self, token: str | None = None) -> dict[str, Any]:
        """The whole run in this process (the CLI, tests, `pull_entity`): begin, every step, finish."""
        self.begin(token)
        return self.run_steps()

    def run_steps(self, limit: int | None = None, transient_retries: int = 0) -> dict[str, Any]:
        """Steps until done (or `limit` steps: then `{"status": "running"}`); the run's end is recorded either way.

        With `transient_retries`, a step that failed transiently (Zoho or the network hiccuped;
        nothing of it was committed) answers `{"status": "retry"}` up to that many times in a row
        instead of failing the run: the chain runs the same step again a little later.
        """
        done = 0
        try:
            while self.step():
                done += 1
                if self.state.get("transient"):
                    self._note_transient(0)
                if limit is not None and done >= limit:
                    return {"run_id": self.run_id, "entity": self.entity.name, "status": "running",
                            "step": self.state["step"]}
        except RateLimited as e:
            # The day's budget (or Zoho's own 429 pause) outlasts any sensible wait: what was
            # recorded stays recorded, the cursor sits after it, the next scheduled run resumes.
            error = f"{type(e).__name__}: {e}"[:2000]
            log.warning("pull stopped by the Zoho call budget: %s", error, extra={"entity": self.entity.name})
            return self.finish("rate_limited", error)
        except PullLocked as e:
            return self.finish("abandoned", str(e))
        except TransientError as e:
            tries = int(self.state.get("transient") or 0) + 1
            if tries > transient_retries:
                error = f"{type(e).__name__}: {e}"[:2000]
                log.warning("pull failed: %s", error, extra={"entity": self.entity.name})
                self.finish("failed", error)
                raise
            log.info("pull step failed transiently (%s); retrying it", type(e).__name__,
                     extra={"entity": self.entity.name})
            self._note_transient(tries)
            return {"run_id": self.run_id, "entity": self.entity.name, "status": "retry", "tries": tries}
        except Exception as e:
            error = f"{type(e).__name__}: {e}"[:2000]
            log.warning("pull failed: %s", error, extra={"entity": self.entity.name})
            self.finish("failed", error)
            raise
        return self.finish("completed")

    def _note_transient(self, tries: int) -> None:
        """Count transient failures in a row in the saved position (the failed step itself committed nothing)."""
        self.state["transient"] = tries
        with self.engine.begin() as c:
            c.execute(text("UPDATE tds_sync_runs SET page_state = jsonb_set(page_state, '{transient}', "
                           "to_jsonb(CAST(:n AS int))) WHERE id = :i AND status = 'running'"),
                      {"n": tries, "i": self.run_id})

    def summary(self, status: str) -> dict[str, Any]:
        s = self.stats
        return {"run_id": self.run_id, "entity": self.entity.name, "kind": self.kind, "status": status,
                "fetched": s.fetched, "changed": s.changed, "skipped": s.skipped, "failed": s.failed,
                "deleted": s.deleted, "api_calls": s.api_calls, "pages": s.pages,
                "changed_by": dict(s.changed_by), "deleted_by": dict(s.deleted_by),
                "missing_by": dict(s.missing_by), "stale_by": dict(s.stale_by), "revived": s.revived,
                "missed_by": dict(s.missed_by), "seen_by": dict(s.seen_by)}


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


def _pullable(entity_name: str) -> Entity:
    entity = get_entity(entity_name)
    if entity is None:
        raise PermanentError(f"unknown entity {entity_name!r}")
    if not entity.sources:
        raise PermanentError(f"{entity_name} has no Zoho API source to pull from")
    return entity


def pull_entity(entity_name: str, full: bool = False, *, client=None, progress=None, kind: str | None = None) -> dict:
    """Run one pull to its end in this process, under the entity's lock; raises `PullLocked` when one is running."""
    entity = _pullable(entity_name)
    lock = PullLock(entity)
    if not lock.acquire():
        raise PullLocked(f"a pull of {entity_name} is already running")
    try:
        puller = Puller(entity, full=full, client=client, progress=progress, kind=kind, heartbeat=lock.heartbeat)
        return puller.run(lock.token)
    finally:
        lock.release()


def pull_priority(entity: Entity) -> int:
    """Catalog and contact pulls before document pulls (webhooks have their own queues and workers).

    Redis serves priority 0 first; RabbitMQ serves the highest number first (on a queue
    declared with `x-max-priority`); the same intent is spelled for each.
    """
    documents = any(s.detail for s in entity.sources)
    if get_settings().broker_url.startswith(("amqp", "pyamqp")):
        return 3 if documents else 8
    return 6 if documents else 0


def start_pull(entity_name: str, full: bool = False, kind: str | None = None,
               since: dt.datetime | None = None) -> dict:
    """Take the list's lock, open the run, do its first step here, and chain the rest as page tasks."""
    entity = _pullable(entity_name)
    lock = PullLock(entity)
    if not lock.acquire():
        raise PullLocked(f"a pull of {entity_name} is already running")
    try:
        puller = Puller(entity, full=full, kind=kind, heartbeat=lock.heartbeat, since=since)
        puller.begin(lock.token)
    except BaseException:
        lock.release()
        raise
    return _advance(puller, lock)


def _advance(puller: Puller, lock: PullLock) -> dict:
    """One step, then the next one enqueued at the back of the queue (or the run closed)."""
    result = puller.run_steps(limit=1, transient_retries=TRANSIENT_RETRIES)
    if result["status"] not in ("running", "retry"):
        lock.release()
        return result
    retry = result["status"] == "retry"
    step = Puller.load(puller.run_id).state["step"] if retry else puller.state["step"]  # as saved: the failed step again
    try:
        pull_page.apply_async(args=[puller.run_id, step], queue="bulk", routing_key="bulk",
                              priority=pull_priority(puller.entity),
                              countdown=TRANSIENT_BACKOFF_SECONDS * result.get("tries", 1) if retry else None)
    except BROKER_ERRORS as e:
        # The run stays `running` with its position saved; its lock expires and the next
        # scheduled pull of this list abandons it and resumes from the cursor.
        log.warning("broker unreachable while chaining a pull: %s", type(e).__name__,
                    extra={"entity": puller.entity.name})
    return result


@app.task(name="bulk.pull", bind=True, acks_late=False, ignore_result=True, soft_time_limit=1500, time_limit=1560)
def pull(self, entity: str, full: bool = False) -> dict:
    """Paged pull since the cursor (or everything, with deletion detection, when `full`).

    This task opens the run and does its first page; `bulk.pull_page` tasks do the rest, one
    page each, so pulls of other entities interleave. Acknowledged on receipt (not late): an
    interrupted pull loses nothing — the next scheduled run resumes from the cursor.
    """
    return _start_or_skip(entity, full=full)


@app.task(name="bulk.pull_since", acks_late=False, ignore_result=True, soft_time_limit=1500, time_limit=1560)
def pull_since(entity: str, modified_since: str) -> dict:
    """An incremental pull from `modified_since` (ISO 8601) instead of the cursor: an operator's catch-up."""
    return _start_or_skip(entity, since=dt.datetime.fromisoformat(modified_since))


def _start_or_skip(entity: str, **options: Any) -> dict:
    try:
        return start_pull(entity, **options)
    except PullLocked as e:
        log.info(str(e), extra={"entity": entity})
        return {"entity": entity, "status": "skipped", "reason": "already running"}


@app.task(name="bulk.pull_page", acks_late=False, ignore_result=True, soft_time_limit=1500, time_limit=1560)
def pull_page(run_id: int, step: int) -> dict:
    """The next step of a running pull; a duplicate or stale message (step already done) does nothing."""
    puller = Puller.load(run_id)
    if puller is None or puller.state.get("step") != step:
        return {"run_id": run_id, "status": "gone", "step": step}
    lock = PullLock(puller.entity, puller.state.get("token"))
    if not lock.renew() and not lock.acquire():
        # Our lock expired while this message waited, and another pull of the list holds it now.
        return puller.finish("abandoned", "another pull took the list over while this one waited")
    puller.heartbeat = lock.heartbeat
    return _advance(puller, lock)


@app.task(name="bulk.pull_all", ignore_result=True)
def pull_all(full: bool = False) -> dict:
    """Enqueue a pull of every entity whose list is not already pulled by another (riders share pages)."""
    sent, covered = [], set()
    for entity in registry().values():
        if not entity.sources or entity.sources[0].key in covered:
            continue
        covered.update(s.key for s in entity.sources)
        pull.apply_async(args=[entity.name], kwargs={"full": full}, priority=pull_priority(entity))
        sent.append(entity.name)
    return {"enqueued": sent, "full": full}


__all__ = ["PullLock", "PullLocked", "Puller", "publish_batches", "pull", "pull_all", "pull_entity", "pull_page",
           "pull_since", "start_pull"]

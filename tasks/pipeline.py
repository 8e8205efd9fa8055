"""The one path every accepted event takes to the ERP, in named steps.

    take → transform → apply (upsert, newest wins) → complete → audit      ONE transaction
                 ↘ mapping error → dead letter      ↘ transient error → failed, retried later

Contracts that make the path safe to run from many workers, healers and re-delivered
messages at once:

- The common case (a first delivery of a pending event) is one transaction with one
  asynchronous commit (why that is safe: see `_TAKE`): `SELECT … FOR UPDATE` takes the due
  pending/failed rows and holds their row locks, the transformer runs, the ERP rows are upserted, and the events are
  marked completed (with `celery_task_id`) and audited. A second delivery of the same
  message waits on the row lock and then finds the row completed: it does nothing. A
  worker killed midway rolls back to the row as it was (`pending`), and the message
  comes back (late ack) or the healer re-publishes it.
- Failures roll the transaction back and are recorded in a separate short transaction
  (`failed` + backoff, or dead letter), only on rows still pending/failed.
- A record that kills its worker must not loop: a re-delivered message (the worker died
  holding it) or an event that already failed once takes the careful path — the claim
  (`processing`, task id, `locked_until`) is committed first, so another death leaves the
  row `processing` for `heal.release_stuck`, which counts the attempt and dead-letters
  after `max_retries`. There `apply` re-checks the task id under a row lock, so a claim
  taken over by the healer can never be applied twice.
- Two events for the same Zoho record serialise on the ERP row lock taken by
  `INSERT … ON CONFLICT`; the freshness guard then lets only the newer version through,
  and line sets are replaced only for rows actually written.

Entities customise what a record becomes (their transformer), never this sequence.
"""
from __future__ import annotations

import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from models.db import get_engine, session_scope
from models.records import Record
from models.settings import get_settings
from models.upsert import apply_records
from zoho.entities import Entity, get_entity
from zoho.errors import LockContention, MappingError, PermanentError, RateLimited, SyncError, TransientError
from zoho.mapper import TransformContext

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 16.0
PARK_AFTER_SECONDS = 30.0
"""A retry further away than this is parked in the mirror for the healer, not held by Redis."""

OUTCOMES = ("applied", "stale", "skipped", "dead", "retry")
"""What can become of an event in one run (the lists of `Outcome`)."""


# The claim is a visibility marker: losing it in a crash only returns the row to where it
# was, so its commit need not wait for the WAL flush (set_config(..., true) is local to it).
_CLAIM = text(
    """
    UPDATE tds_sync_queue q
       SET status = 'processing', celery_task_id = :task_id,
           locked_until = now() + make_interval(secs => :lock), updated_at = now()
      FROM (SELECT set_config('synchronous_commit', 'off', true)) AS cfg
     WHERE q.id = ANY(:ids) AND q.entity_type = :entity
       AND (q.status = 'pending' OR q.status = 'failed')
       AND (q.next_attempt_at IS NULL OR q.next_attempt_at <= now())
 RETURNING q.id, q.entity_type, q.entity_id, q.operation, q.payload, q.retry_count, q.max_retries
    """
)

# Completion and its audit entry in one statement, only for rows this task still owns.
_COMPLETE = text(
    """
    WITH done AS (
        UPDATE tds_sync_queue
           SET status = 'completed', result = :result, completed_at = now(), updated_at = now(),
               locked_until = NULL, next_attempt_at = NULL, error_message = NULL
         WHERE id = ANY(:ids) AND status = 'processing' AND celery_task_id = :task_id
     RETURNING id, entity_type, entity_id, operation
    )
    INSERT INTO tds_audit_trail (action, actor, entity_type, entity_id, event_id)
    SELECT CASE WHEN :result = 'stale' THEN 'stale'
                WHEN operation = 'delete' THEN 'deactivated' ELSE 'applied' END,
           'worker', entity_type, entity_id, id
      FROM done
 RETURNING event_id
    """
)


# The fast path's first statement: lock the due, claimable rows (in id order, so two batches
# never deadlock). A concurrent holder makes this wait; the rows are then re-checked, so a
# row completed meanwhile is simply not returned. Nothing is written until completion.
#
# It also turns synchronous_commit off for this one transaction (set_config(..., true) is
# SET LOCAL, evaluated once a row is found; no extra round trip). Losing this commit in a
# PostgreSQL crash is safe:
# - the event row was committed durably (synchronously) at ingest, as `pending`;
# - this transaction writes the ERP rows AND marks the event completed (+ audit) together,
#   so a crash can only lose both: the row is `pending` again, as ingested (`enqueued_at`
#   untouched), and `heal.enqueue_orphans` re-publishes it once it is older than
#   SYNC_ORPHAN_AFTER_SECONDS and its queue is empty (or after 10 min regardless). That query
#   reads only the table, so it does not matter that the message was already acked;
# - re-applying is idempotent: the freshness guard refuses an older version and rewrites an
#   equal one with the same values, and the line set is replaced, not appended to;
# - the message is acked (acks_late) only after COMMIT has returned, and any later
#   synchronous commit (ingest, healer, careful path) flushes the WAL up to its own record,
#   which includes this one, so nothing durable can depend on a lost completion.
# The careful path's completion (`apply`, after `_CLAIM`) stays a synchronous commit.
_TAKE = text(
    """
    SELECT q.id, q.entity_type, q.entity_id, q.operation, q.payload, q.retry_count, q.max_retries, q.status
      FROM tds_sync_queue q, (SELECT set_config('synchronous_commit', 'off', true)) AS cfg
     WHERE q.id = ANY(:ids) AND q.entity_type = :entity
       AND (q.status = 'pending' OR q.status = 'failed')
       AND (q.next_attempt_at IS NULL OR q.next_attempt_at <= now())
     ORDER BY q.id
       FOR UPDATE OF q
    """
)

# The fast path's completion: the rows are locked by this transaction, so no ownership test
# beyond the status; one statement for a page, each event with its own result.
_COMPLETE_TAKEN = text(
    """
    WITH r AS (
        SELECT * FROM unnest(CAST(:ids AS bigint[]), CAST(:results AS text[]), CAST(:task_ids AS text[]))
                   AS r(id, result, task_id)
    ), done AS (
        UPDATE tds_sync_queue q
           SET status = 'completed', result = r.result, celery_task_id = r.task_id, completed_at = now(),
               updated_at = now(), locked_until = NULL, next_attempt_at = NULL, error_message = NULL
          FROM r
         WHERE q.id = r.id AND (q.status = 'pending' OR q.status = 'failed')
     RETURNING q.id, q.entity_type, q.entity_id, q.operation, r.result
    )
    INSERT INTO tds_audit_trail (action, actor, entity_type, entity_id, event_id)
    SELECT CASE WHEN result = 'stale' THEN 'stale'
                WHEN operation = 'delete' THEN 'deactivated' ELSE 'applied' END,
           'worker', entity_type, entity_id, id
      FROM done
 RETURNING event_id
    """
)


@dataclass
class ClaimedEvent:
    id: int
    entity_type: str
    entity_id: str
    operation: str
    payload: dict[str, Any]
    retry_count: int
    max_retries: int
    records: list[Record] = field(default_factory=list)
    task_id: str | None = None
    """The task that owns this event: the run's, or its own message's in a micro-batch."""


@dataclass
class Outcome:
    """What happened to the events a task was asked to apply."""

    applied: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # not claimable: done, dead, not due, or taken
    dead: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    retry_in: float | None = None
    error: str | None = None

    def merge(self, other: "Outcome") -> None:
        for name in OUTCOMES:
            getattr(self, name).extend(getattr(other, name))
        if other.retry_in is not None:
            self.retry_in = max(self.retry_in or 0.0, other.retry_in)
        self.error = other.error or self.error

    def fates(self) -> dict[int, str]:
        """Each event's fate in this run: applied, stale, dead or retry (absent: skipped)."""
        fate: dict[int, str] = {}
        for name in OUTCOMES:
            if name != "skipped":
                for event_id in getattr(self, name):
                    fate.setdefault(event_id, name)
        return fate

    def summary(self) -> dict[str, int]:
        """How many events met each fate (a task's result, as Flower shows it)."""
        return {name: len(getattr(self, name)) for name in OUTCOMES}

    def retry_countdown(self) -> float | None:
        """Seconds after which the task should re-send itself for its failed events, or None.

        None when nothing is to be retried, or when the wait is long (rate limits): those
        stay parked in the mirror and `heal.requeue_failed` publishes them when due; a long
        countdown in Redis would outlive the visibility timeout and run twice.
        """
        if not self.retry or self.retry_in is None or self.retry_in > PARK_AFTER_SECONDS:
            return None
        return self.retry_in + 0.25


def backoff_seconds(attempt: int) -> float:
    """1, 2, 4, 8, 16 s for attempts 1..5 (capped), plus up to 1 s of jitter."""
    base = min(BACKOFF_BASE_SECONDS * 2 ** max(attempt - 1, 0), BACKOFF_MAX_SECONDS)
    return base + random.uniform(0, 1.0)


def _short(exc: BaseException) -> str:
    msg = f"{type(exc).__name__}: {exc}"
    return msg if len(msg) <= 2000 else msg[:2000] + "…"


class Pipeline:
    """Apply events of one entity; one event (a webhook) or a page of them (a bulk pull)."""

    def __init__(self, entity: Entity):
        self.entity = entity
        settings = get_settings()
        self.consumer_pricebook = settings.consumer_pricebook
        self.wholesale_pricebook = settings.wholesale_pricebook
        self.lock_seconds = settings.stuck_lock_seconds

    # -- step 1 -------------------------------------------------------------------------
    def claim(self, event_ids: Sequence[int], task_id: str) -> list[ClaimedEvent]:
        """Take due pending/failed events; returns only the ones this task now owns."""
        if not event_ids:
            return []
        with session_scope() as s:
            rows = s.execute(_CLAIM, {"ids": list(event_ids), "task_id": task_id, "lock": self.lock_seconds,
                                      "entity": self.entity.name}).all()
        return [ClaimedEvent(*r) for r in rows]

    # -- step 2 -------------------------------------------------------------------------
    def transform(self, event: ClaimedEvent) -> list[Record]:
        """Pure: the event's Zoho record → ERP `Record`s. Raises `MappingError` if impossible."""
        unwrapped = self.entity.unwrap(event.payload)
        if unwrapped is None:
            raise MappingError(f"{self.entity.name}: payload holds no {self.entity.record_key!r} record")
        key, record = unwrapped
        ctx = TransformContext(
            entity=self.entity.name,
            operation=event.operation,
            record_key=key,
            consumer_pricebook=self.consumer_pricebook,
            wholesale_pricebook=self.wholesale_pricebook,
        )
        try:
            return self.entity.to_records(record, ctx)
        except SyncError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise MappingError(f"{self.entity.name}: {_short(e)}") from e

    def _transform_all(self, events: list[ClaimedEvent]) -> tuple[list[ClaimedEvent],
                                                                  list[tuple[ClaimedEvent, SyncError]]]:
        """Transform each event (setting `records`): (the ready ones, the unmappable ones with why)."""
        ready: list[ClaimedEvent] = []
        unmapped: list[tuple[ClaimedEvent, SyncError]] = []
        for event in events:
            try:
                event.records = self.transform(event)
                ready.append(event)
            except SyncError as exc:
                log.warning("cannot map event", extra={"event_id": event.id, "entity": event.entity_type,
                                                       "entity_id": event.entity_id})
                unmapped.append((event, exc))
        return ready, unmapped

    # -- step 3 -------------------------------------------------------------------------
    def apply(self, events: list[ClaimedEvent], task_id: str, outcome: Outcome) -> None:
        """Write every event's rows and mark the events completed, in one transaction.

        The completion statement only touches rows still claimed by this task; if the
        healer took any of them over meanwhile, the whole transaction is rolled back and
        those events are left to their new owner (the others are applied again at once).
        """
        with session_scope() as s:
            result = apply_records(s, [rec for e in events for rec in e.records])
            written = {id(r) for r in result.applied_records}
            applied = [e.id for e in events if not e.records or any(id(r) in written for r in e.records)]
            applied_set = set(applied)
            stale = [e.id for e in events if e.id not in applied_set]
            done: set[int] = set()
            for ids, res in ((applied, "applied"), (stale, "stale")):
                if ids:
                    done.update(s.execute(_COMPLETE, {"ids": ids, "task_id": task_id, "result": res}).scalars())
            lost = [e for e in events if e.id not in done]
            if lost:
                s.rollback()
        if lost:
            outcome.skipped.extend(e.id for e in lost)
            mine = [e for e in events if e.id in done]
            if mine:
                self.apply(mine, task_id, outcome)
            return
        outcome.applied.extend(applied)
        outcome.stale.extend(stale)

    @staticmethod
    def _lock_owned(s: Session, ids: list[int], task_id: str) -> dict[int, int]:
        rows = s.execute(
            text(
                "SELECT id, retry_count FROM tds_sync_queue WHERE id = ANY(:ids) AND status = 'processing' "
                "AND celery_task_id = :task_id ORDER BY id FOR UPDATE"
            ),
            {"ids": ids, "task_id": task_id},
        ).all()
        return {r.id: r.retry_count for r in rows}

    # -- failure paths --------------------------------------------------------------------
    def fail(self, events: list[ClaimedEvent], exc: BaseException, task_id: str, outcome: Outcome,
             *, claimed: bool = True) -> None:
        """Record a failed attempt: dead-letter permanent errors and exhausted retries.

        `claimed`: the events were claimed in a committed transaction (careful path), so only
        rows still `processing` under this task id are touched. Otherwise (fast path, rolled
        back) only rows still pending/failed are: one completed by someone else is left alone.
        """
        permanent = isinstance(exc, PermanentError) or not isinstance(exc, TransientError)
        counts_attempt = not isinstance(exc, (LockContention, RateLimited))
        message = _short(exc)
        with session_scope() as s:
            owned = (self._lock_owned(s, [e.id for e in events], task_id) if claimed
                     else self._lock_claimable(s, [e.id for e in events]))
            for e in events:
                if e.id not in owned:
                    outcome.skipped.append(e.id)
                    continue
                retry_count = owned[e.id] if owned[e.id] is not None else e.retry_count
                attempts = retry_count + (1 if counts_attempt else 0)
                if permanent or attempts > e.max_retries:
                    dead_letter(s, e.id, message, type(exc).__name__, actor="worker")
                    outcome.dead.append(e.id)
                    continue
                if isinstance(exc, RateLimited) and exc.retry_after:
                    wait = float(exc.retry_after) + random.uniform(0, 1.0)
                else:
                    wait = backoff_seconds(max(attempts, 1))
                s.execute(
                    text(
                        "UPDATE tds_sync_queue SET status = 'failed', retry_count = :attempts, "
                        "error_message = :msg, next_attempt_at = now() + make_interval(secs => :wait), "
                        "celery_task_id = :task_id, locked_until = NULL, updated_at = now() WHERE id = :id"
                    ),
                    {"attempts": attempts, "msg": message, "wait": wait, "id": e.id, "task_id": e.task_id or task_id},
                )
                outcome.retry.append(e.id)
                outcome.retry_in = max(outcome.retry_in or 0.0, wait)
        outcome.error = message

    @staticmethod
    def _lock_claimable(s: Session, ids: list[int]) -> dict[int, int]:
        rows = s.execute(
            text(
                "SELECT id, retry_count FROM tds_sync_queue WHERE id = ANY(:ids) "
                "AND (status = 'pending' OR status = 'failed') ORDER BY id FOR UPDATE"
            ),
            {"ids": ids},
        ).all()
        return {r.id: r.retry_count for r in rows}

    # -- the sequence -----------------------------------------------------------------------
    def run(self, event_ids: Sequence[int], task_id: str, redelivered: bool = False,
            task_ids: Mapping[int, str] | None = None) -> Outcome:
        """Apply the events; `redelivered`: the message came back from a worker that died with it.

        `task_ids`: each event's own task, when the events came as separate messages gathered
        into one run (`tasks.batching`); `task_id` is then only the run's name in logs.
        """
        outcome = Outcome()
        if not event_ids:
            return outcome
        with get_engine().connect() as conn:
            trans = conn.begin()
            try:
                rows = conn.execute(_TAKE, {"ids": list(event_ids), "entity": self.entity.name}).all()
            except BaseException:
                trans.rollback()
                raise
            taken = [ClaimedEvent(*r[:7]) for r in rows]
            for e in taken:
                e.task_id = task_ids.get(e.id, task_id) if task_ids is not None else task_id
            taken_ids = {e.id for e in taken}
            outcome.skipped.extend(i for i in event_ids if i not in taken_ids)
            if not taken:
                trans.rollback()
                return outcome
            careful = {r.id for r in rows if redelivered or r.status == "failed" or r.retry_count}
            if careful and task_ids is not None and len(taken) > 1:
                # Separate messages: an event that failed before is retried alone, under its own
                # task, so it cannot take its neighbours down with it; the others stay one batch.
                trans.rollback()
                conn.close()
                fresh = [e.id for e in taken if e.id not in careful]
                if fresh:
                    outcome.merge(self.run(fresh, task_id, task_ids=task_ids))
                for e in taken:
                    if e.id in careful:
                        outcome.merge(self.run([e.id], e.task_id, redelivered=redelivered))
                return outcome
            if careful:
                # Careful path: make the claim visible before doing anything that might kill us.
                owner = taken[0].task_id
                try:
                    claimed = [ClaimedEvent(*r) for r in conn.execute(
                        _CLAIM, {"ids": [e.id for e in taken], "task_id": owner, "lock": self.lock_seconds,
                                 "entity": self.entity.name}).all()]
                    trans.commit()
                except BaseException:
                    trans.rollback()
                    raise
                conn.close()
                self._run_claimed(claimed, owner, outcome)
                return outcome
            try:
                unmapped = self._apply_taken(conn, taken, task_id, outcome)
                if unmapped and len(unmapped) == len(taken):
                    trans.rollback()
                else:
                    trans.commit()
            except BaseException as exc:
                _rollback_quietly(trans)
                outcome.applied.clear()
                outcome.stale.clear()
                if not isinstance(exc, Exception):
                    raise
                failure = exc
            else:
                failure = None
        if failure is not None:
            self._after_rollback(taken, failure, task_id, outcome)
            return outcome
        for event, exc in unmapped:
            self.fail([event], exc, task_id, outcome, claimed=False)
        return outcome

    def _apply_taken(self, conn, events: list[ClaimedEvent], task_id: str,
                     outcome: Outcome) -> list[tuple[ClaimedEvent, SyncError]]:
        """Fast path, inside the caller's transaction: transform, upsert, complete, audit.

        Returns the events whose transform failed: they are left untouched here and recorded
        as failed / dead-lettered once this transaction is committed.
        """
        ready, unmapped = self._transform_all(events)
        if not ready:
            return unmapped
        result = apply_records(conn, [rec for e in ready for rec in e.records])
        written = {id(r) for r in result.applied_records}
        ids = [e.id for e in ready]
        results = ["applied" if not e.records or any(id(r) in written for r in e.records) else "stale" for e in ready]
        task_ids = [e.task_id for e in ready]
        done = conn.execute(_COMPLETE_TAKEN, {"ids": ids, "results": results, "task_ids": task_ids}).scalars().all()
        if len(done) != len(ids):  # cannot happen while this transaction holds the row locks
            raise TransientError("event rows changed under their row lock")
        for i, res in zip(ids, results):
            (outcome.applied if res == "applied" else outcome.stale).append(i)
        return unmapped

    def _after_rollback(self, events: list[ClaimedEvent], exc: Exception, task_id: str, outcome: Outcome) -> None:
        """The fast transaction failed and was rolled back: record why, on rows nobody else took."""
        if isinstance(exc, (DataError, IntegrityError)):
            if len(events) > 1:
                # One bad record must not sink its page: apply one by one to find it.
                for event in events:
                    outcome.merge(self.run([event.id], event.task_id))
                return
            failure: BaseException = MappingError(f"database refused the row: {_short(exc.orig or exc)}")
        elif isinstance(exc, (OperationalError, DBAPIError)):
            failure = TransientError(f"database unavailable: {_short(exc.orig or exc)}")
        elif isinstance(exc, SyncError):
            failure = exc
        else:
            # Not classified (a bug, a soft time limit): an attempt that counts, as a worker death would.
            log.exception("unexpected error applying events", extra={"entity": self.entity.name, "task_id": task_id})
            failure = TransientError(f"unexpected: {_short(exc)}")
        self.fail(events, failure, task_id, outcome, claimed=False)

    def _run_claimed(self, claimed: list[ClaimedEvent], task_id: str, outcome: Outcome) -> None:
        """Careful path: the claim is committed; apply and complete in a second transaction."""
        ready, unmapped = self._transform_all(claimed)
        for event, exc in unmapped:
            self.fail([event], exc, task_id, outcome)
        if not ready:
            return
        try:
            self.apply(ready, task_id, outcome)
        except (DataError, IntegrityError) as exc:
            if len(ready) == 1:
                self.fail(ready, MappingError(f"database refused the row: {_short(exc.orig or exc)}"), task_id, outcome)
            else:
                for event in ready:
                    self._apply_alone(event, task_id, outcome)
        except (OperationalError, DBAPIError) as exc:
            self.fail(ready, TransientError(f"database unavailable: {_short(exc.orig or exc)}"), task_id, outcome)
        except SyncError as exc:
            self.fail(ready, exc, task_id, outcome)

    def _apply_alone(self, event: ClaimedEvent, task_id: str, outcome: Outcome) -> None:
        try:
            self.apply([event], task_id, outcome)
        except (DataError, IntegrityError) as exc:
            self.fail([event], MappingError(f"database refused the row: {_short(exc.orig or exc)}"), task_id, outcome)
        except (OperationalError, DBAPIError) as exc:
            self.fail([event], TransientError(f"database unavailable: {_short(exc.orig or exc)}"), task_id, outcome)


def _rollback_quietly(trans) -> None:
    """Roll back after a failure; a connection that is already gone has nothing to roll back."""
    try:
        if trans.is_active:
            trans.rollback()
    except DBAPIError:
        log.warning("rollback failed: connection lost", exc_info=True)


def dead_letter(s: Session, event_id: int, message: str, error_class: str, actor: str) -> None:
    """Move one event to `tds_dead_letter_queue` and mark it `dead` (caller's transaction)."""
    s.execute(
        text(
            """
            INSERT INTO tds_dead_letter_queue
                   (original_id, entity_type, entity_id, operation, payload, error_message, error_class, retry_count)
            SELECT id, entity_type, entity_id, operation, payload, :msg, :cls, retry_count
              FROM tds_sync_queue WHERE id = :id
            """
        ),
        {"id": event_id, "msg": message, "cls": error_class},
    )
    s.execute(
        text(
            "UPDATE tds_sync_queue SET status = 'dead', error_message = :msg, locked_until = NULL, "
            "next_attempt_at = NULL, updated_at = now() WHERE id = :id"
        ),
        {"id": event_id, "msg": message},
    )
    s.execute(
        text(
            "INSERT INTO tds_audit_trail (action, actor, entity_type, entity_id, event_id, details) "
            "SELECT 'dead_lettered', :actor, entity_type, entity_id, id, "
            "jsonb_build_object('error', CAST(:msg AS text)) FROM tds_sync_queue WHERE id = :id"
        ),
        {"id": event_id, "msg": message, "actor": actor},
    )
    log.warning("event dead-lettered", extra={"event_id": event_id, "status": "dead"})


_pipelines: dict[str, Pipeline] = {}


def pipeline_for(entity_name: str) -> Pipeline:
    pipe = _pipelines.get(entity_name)
    if pipe is None:
        entity = get_entity(entity_name)
        if entity is None:
            raise PermanentError(f"unknown entity {entity_name!r}")
        pipe = _pipelines[entity_name] = Pipeline(entity)
    return pipe


__all__ = ["Pipeline", "Outcome", "OUTCOMES", "pipeline_for", "dead_letter", "backoff_seconds", "PARK_AFTER_SECONDS"]

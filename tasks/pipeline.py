"""The one path every accepted event takes to the ERP: take → transform → apply → complete.

    take (row locks) → transform (pure) → apply (upsert, newest wins) → complete + audit   ONE transaction
                     ↘ unmappable → dead letter       ↘ any failure: rolled back, classified once
                                                         (`classify`): dead letter | failed + backoff

A *group* is the events one transaction applies. A task's group is its own event(s) plus — when
it may (`co_apply`) — up to `co_apply` other due first-attempt events of the same entity that no
other transaction holds (`FOR UPDATE SKIP LOCKED`, oldest first). That is group commit on public
ground: under load one transaction, one upsert per table and one commit serve many events; their
own messages then find them completed and finish at once (`skipped`). Idle, a group is one event.

Contracts that make the path safe to run from many workers, healers and re-delivered messages:

- Nothing is written before the completion: a worker killed midway rolls back to the rows as
  they were (`pending`); the message comes back (late ack) or another task's group, or the
  healer, picks the event up. Completion only touches rows this transaction holds locked.
- A task's own event that another transaction holds is being applied (or re-published) by
  it right now: the task skips it instead of waiting.
- The poison rule — a record that kills its worker must not loop, nor take neighbours down,
  whether the death takes a prefork child or a whole threads-pool process: before a group
  applies anything (its rows already locked), the task records it in `tds_group_attempts` on a
  connection of its own, committed at once; the applying transaction deletes that row as it
  commits, a handled failure right after its rollback. A row left behind names events whose
  worker died (`lost`). A lost event, one whose message was re-delivered, or one that failed
  before (`retry_count > 0` or `failed`) runs *alone*, never co-applied, and its claim
  (`processing`, task id, `locked_until`) is committed before anything that might kill the
  worker. Another death leaves it `processing` for `heal.release_stuck`, which counts the
  attempt and dead-letters after `max_retries`. The same steps run; only the take differs.
- Failures roll the group back. A database refusal (one bad row) in a group of several
  splits it: each event is taken again alone, so the bad one is dead-lettered and the others
  land. Any other failure is recorded on the task's own events (`failed` + backoff, or dead
  letter); co-applied events are left pending and re-published, so their next attempt
  comes at once and is not charged to them.
- `celery_task_id` on a completed row is the task whose transaction applied it: for a
  co-applied event, that is another event's task (its own message's task reports `skipped`).

Entities customise what a record becomes (their transformer), never this sequence.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import threading
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from models import queue as sql
from models.db import get_autocommit_engine, get_engine, session_scope
from models.records import Record
from models.settings import get_settings
from models.upsert import apply_records
from zoho.entities import Entity, get_entity
from zoho.errors import (
    LockContention,
    MappingError,
    PermanentError,
    RateLimited,
    SyncError,
    TransientError,
)
from zoho.mapper import TransformContext

log = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 16.0
PARK_AFTER_SECONDS = 30.0
"""A retry further away than this is parked in the mirror for the healer, not held by the broker."""

OUTCOMES = ("applied", "stale", "skipped", "dead", "retry")
"""What can become of an event in one run (the lists of `Outcome`)."""


def max_batch() -> int:
    """`SYNC_BATCH_MAX` (default 64): the most events one transaction applies; 1 turns group commit off."""
    value = get_settings().batch_max
    if value < 1:
        raise ValueError(f"SYNC_BATCH_MAX must be at least 1, got {value}")
    return value


@dataclass
class ClaimedEvent:
    id: int
    entity_type: str
    entity_id: str
    operation: str
    payload: dict[str, Any]
    retry_count: int
    max_retries: int
    status: str = "pending"
    records: list[Record] = field(default_factory=list)
    own: bool = True
    """False for an event co-applied from the mirror (its own message is another task's)."""
    lost: bool = False
    """True when a group attempt names it: its worker died applying it (`tds_group_attempts`)."""


@dataclass
class Outcome:
    """What happened to the events a task applied (its own and the ones it co-applied)."""

    applied: list[int] = field(default_factory=list)
    stale: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)  # not taken: done, dead, not due, or held by another
    dead: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    retry_in: float | None = None
    error: str | None = None
    co_applied: list[int] = field(default_factory=list)
    """Events of other messages this task applied in its transactions (also in applied/stale/dead)."""

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
        out = {name: len(getattr(self, name)) for name in OUTCOMES}
        if self.co_applied:
            out["co_applied"] = len(self.co_applied)
        return out

    def retry_countdown(self) -> float | None:
        """Seconds after which the task should re-send itself for its failed events, or None.

        None when nothing is to be retried, or when the wait is long (rate limits): those
        stay parked in the mirror and `heal.requeue_failed` publishes them when due; a long
        countdown on a Redis broker would outlive the visibility timeout and run twice.
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


def classify(exc: BaseException) -> SyncError:
    """The one place a failure becomes a class the pipeline acts on.

    A row the database refuses (bad value, constraint) is a `MappingError`: retrying cannot
    help. Any other database error (connection lost, deadlock, serialization) is transient.
    Anything unclassified (a bug, a soft time limit) is transient too: an attempt that
    counts, as a worker death would, rather than an instant dead letter.
    """
    if isinstance(exc, SyncError):
        return exc
    if isinstance(exc, (DataError, IntegrityError)):
        return MappingError(f"database refused the row: {_short(exc.orig or exc)}")
    if isinstance(exc, DBAPIError):
        return TransientError(f"database unavailable: {_short(exc.orig or exc)}")
    log.error("unexpected error applying events", exc_info=exc)
    return TransientError(f"unexpected: {_short(exc)}")


CO_APPLIED_MEMORY = 65_536
"""How many event ids a process remembers having co-applied (their own messages are still to come)."""


class CoAppliedMemo:
    """The events this process co-applied whose own messages have not reached it yet.

    A co-applied event's message then needs no database read to learn it is done: a completed
    row never reopens (nothing sets a `completed` event back to open), so "this process
    committed it" is the same answer the read would give. Each id is forgotten when its message
    asks (one message per event), or oldest first past `CO_APPLIED_MEMORY`; an id not found
    here — another process applied it, or it was forgotten — falls back to the read.
    Thread-safe: a threads pool shares one memo between its threads.
    """

    def __init__(self, size: int = CO_APPLIED_MEMORY):
        self.size = size
        self.ids: OrderedDict[int, None] = OrderedDict()
        self.lock = threading.Lock()

    def remember(self, event_ids) -> None:
        with self.lock:
            for event_id in event_ids:
                self.ids[event_id] = None
            while len(self.ids) > self.size:
                self.ids.popitem(last=False)

    def take(self, event_ids: list[int]) -> set[int]:
        """Which of `event_ids` this process completed (each forgotten as it is answered)."""
        with self.lock:
            return {i for i in event_ids if self.ids.pop(i, 0) is None}

    def clear(self) -> None:
        with self.lock:
            self.ids.clear()


co_applied_memo = CoAppliedMemo()


@dataclass
class _Group:
    """One transaction's worth of work: the task's own event ids, and how many others it may take."""

    ids: list[int]
    redelivered: bool = False
    co_apply: int = 0
    alone: bool = False  # split off a refused group: no co-applying, whatever the task allows


class Pipeline:
    """Apply events of one entity: a webhook's event (with whatever it co-applies) or a page of a pull."""

    def __init__(self, entity: Entity):
        self.entity = entity
        settings = get_settings()
        self.consumer_pricebook = settings.consumer_pricebook
        self.wholesale_pricebook = settings.wholesale_pricebook
        self.lock = dt.timedelta(seconds=settings.stuck_lock_seconds)

    # -- the sequence -----------------------------------------------------------------------
    def run(self, event_ids: Sequence[int], task_id: str, redelivered: bool = False, co_apply: int = 0) -> Outcome:
        """Apply the events; `redelivered`: the message came back from a worker that died with it.

        `co_apply`: how many other due events of the entity the transaction may take along.
        Groups split off a refused one are worked through here, in a loop (never recursively).
        """
        outcome = Outcome()
        work = deque([_Group(list(dict.fromkeys(int(i) for i in event_ids)), redelivered, co_apply)])
        while work:
            work.extend(self._run_group(work.popleft(), task_id, outcome))
        return outcome

    def _run_group(self, group: _Group, task_id: str, outcome: Outcome) -> list[_Group]:
        """take → transform → apply → complete for one group; returns the groups it was split into."""
        if not group.ids:
            return []
        # The common case under load is a message whose event another task's group applied:
        # this process's memo of what it co-applied, else one autocommit read, says so.
        done_here = co_applied_memo.take(group.ids)
        outcome.skipped.extend(i for i in group.ids if i in done_here)
        group.ids = [i for i in group.ids if i not in done_here]
        if not group.ids:
            return []
        with get_autocommit_engine().connect() as conn:
            still_open = set(conn.execute(sql.STILL_OPEN, {"ids": group.ids, "entity": self.entity.name}).scalars())
        outcome.skipped.extend(i for i in group.ids if i not in still_open)
        group.ids = [i for i in group.ids if i in still_open]
        if not group.ids:
            return []
        taken: list[ClaimedEvent] = []
        attempt: int | None = None
        with get_engine().connect() as conn:
            try:
                taken, split = self.take(conn, group, task_id, outcome)
                if split or not taken:
                    conn.rollback()
                    return split
                if not any(e.status == "processing" for e in taken):  # a claimed event carries the rule itself
                    attempt = begin_attempt(task_id, [e.id for e in taken])
                ready, unmapped = self._transform_all(taken)
                if ready:
                    self.apply(conn, ready)
                    self.complete(conn, ready, task_id)
                if attempt is not None:
                    conn.execute(sql.END_ATTEMPT, {"attempt_id": attempt})
                conn.commit()
            except Exception as exc:  # noqa: BLE001 - classified once, in `classify`
                _rollback_quietly(conn)
                end_attempt(attempt)
                return self._after_failure(group, taken, exc, task_id, outcome)
            except BaseException:
                _rollback_quietly(conn)
                raise
        for e in ready:
            getattr(outcome, e.status).append(e.id)
        outcome.co_applied.extend(e.id for e in ready if not e.own)
        co_applied_memo.remember(e.id for e in ready if not e.own)
        for event, exc in unmapped:
            self.fail([event], exc, task_id, outcome)
        return []

    # -- step 1 -------------------------------------------------------------------------
    def take(self, conn: Connection, group: _Group, task_id: str,
             outcome: Outcome) -> tuple[list[ClaimedEvent], list[_Group]]:
        """Lock the group's due events in the caller's transaction: (taken, or the groups to run instead).

        An event under the poison rule is taken alone: with others in the group, the group is
        split (returned, nothing taken); alone, its claim is committed here and re-checked
        under a row lock in a new transaction, so a takeover by the healer is never applied.
        """
        rows = conn.execute(sql.TAKE_OWN, {"ids": group.ids, "entity": self.entity.name}).all()
        taken = [ClaimedEvent(*r[:8], lost=r.lost) for r in rows]
        got = {e.id for e in taken}
        outcome.skipped.extend(i for i in group.ids if i not in got)
        if not taken:
            return [], []
        careful = [e for e in taken if group.redelivered or e.lost or e.status == "failed" or e.retry_count]
        if careful and len(taken) > 1:
            alone = {e.id for e in careful}
            fresh = [e.id for e in taken if e.id not in alone]
            return [], ([_Group(fresh, co_apply=group.co_apply)] if fresh else []) + [
                _Group([e.id], redelivered=group.redelivered) for e in careful]
        if careful:
            self.claim(conn, [e.id for e in taken], task_id)
            lost = [e.id for e in taken if e.lost]
            for event_id in lost:
                conn.execute(sql.FORGET_LOST, {"event_id": event_id})
            if lost:
                conn.execute(sql.DROP_EMPTY_ATTEMPTS)
            conn.commit()
            owned = set(conn.execute(sql.LOCK_CLAIMED, {"ids": [e.id for e in taken], "task_id": task_id}).scalars())
            outcome.skipped.extend(e.id for e in taken if e.id not in owned)
            claimed = [e for e in taken if e.id in owned]
            for e in claimed:
                e.status = "processing"
            return claimed, []
        if group.co_apply and not group.alone:
            others = conn.execute(sql.TAKE_OTHERS, {"entity": self.entity.name, "own": group.ids,
                                                    "limit": group.co_apply}).all()
            taken.extend(ClaimedEvent(*r, own=False) for r in others)
        return taken, []

    def claim(self, conn: Connection, event_ids: list[int], task_id: str) -> None:
        """Mark locked events `processing` under this task (committed by the caller before applying)."""
        conn.execute(sql.CLAIM, {"ids": event_ids, "task_id": task_id, "lock": self.lock})

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
                log.warning("cannot map event", extra={"event_id": event.id, "entity_id": event.entity_id,
                                                       "error": _short(exc)})
                unmapped.append((event, exc))
        return ready, unmapped

    # -- step 3 -------------------------------------------------------------------------
    @staticmethod
    def apply(conn: Connection, events: list[ClaimedEvent]) -> set[int]:
        """Upsert every event's rows (newest version wins); returns the ids whose rows were written."""
        result = apply_records(conn, [rec for e in events for rec in e.records])
        written = {id(r) for r in result.applied_records}
        applied = {e.id for e in events if not e.records or any(id(r) in written for r in e.records)}
        for e in events:
            e.status = "applied" if e.id in applied else "stale"
        return applied

    # -- step 4 -------------------------------------------------------------------------
    @staticmethod
    def complete(conn: Connection, events: list[ClaimedEvent], task_id: str) -> None:
        """Mark the applied events completed (with this task's id) and audit them, in the same transaction."""
        for result in ("applied", "stale"):
            ids = [e.id for e in events if e.status == result]
            if not ids:
                continue
            done = conn.execute(sql.COMPLETE, {"ids": ids, "outcome": result, "task_id": task_id}).scalars().all()
            if len(done) != len(ids):  # cannot happen while this transaction holds the row locks
                raise TransientError("event rows changed under their row lock")

    # -- failures ----------------------------------------------------------------------------
    def _after_failure(self, group: _Group, taken: list[ClaimedEvent], exc: Exception, task_id: str,
                       outcome: Outcome) -> list[_Group]:
        """The group's transaction failed and was rolled back: split it, or record the attempt."""
        failure = classify(exc)
        if not taken:  # failed before anything was locked (the database is away): the own events
            taken = [ClaimedEvent(i, self.entity.name, "", "upsert", {}, 0, 0) for i in group.ids]
        if isinstance(failure, MappingError) and len(taken) > 1:
            # One bad row must not sink the group: each event is taken again, alone.
            return [_Group([e.id], redelivered=group.redelivered, alone=True) for e in taken]
        own = [e for e in taken if e.own]
        others = [e for e in taken if not e.own]
        self.fail(own, failure, task_id, outcome)
        if others:
            from tasks.publish import publish_many

            publish_many((self.entity.name, e.id) for e in others)  # their wake-up, not an attempt
        return []

    def fail(self, events: list[ClaimedEvent], exc: BaseException, task_id: str, outcome: Outcome) -> None:
        """Record a failed attempt on events still open (or claimed by this task): dead letter or backoff."""
        if not events:
            return
        permanent = isinstance(exc, PermanentError) or not isinstance(exc, TransientError)
        counts_attempt = not isinstance(exc, (LockContention, RateLimited))
        message = _short(exc)
        by_id = {e.id: e for e in events}
        with session_scope() as s:
            owned = {r.id: r for r in s.execute(sql.LOCK_FOR_FAILURE, {"ids": list(by_id), "task_id": task_id})}
            for event_id in by_id:
                row = owned.get(event_id)
                if row is None:
                    outcome.skipped.append(event_id)
                    continue
                attempts = row.retry_count + (1 if counts_attempt else 0)
                if permanent or attempts > row.max_retries:
                    dead_letter(s, event_id, message, type(exc).__name__, actor="worker")
                    outcome.dead.append(event_id)
                    continue
                if isinstance(exc, RateLimited) and exc.retry_after:
                    wait = float(exc.retry_after) + random.uniform(0, 1.0)
                else:
                    wait = backoff_seconds(max(attempts, 1))
                s.execute(sql.MARK_FAILED, {"event_id": event_id, "attempts": attempts, "message": message,
                                            "wait": dt.timedelta(seconds=wait), "task_id": task_id})
                outcome.retry.append(event_id)
                outcome.retry_in = max(outcome.retry_in or 0.0, wait)
        outcome.error = message


def begin_attempt(task_id: str, event_ids: list[int]) -> int:
    """Record, committed at once on a connection of its own, that this task is applying these events.

    The caller's transaction already holds their row locks, so no other transaction reads the
    row as a lost attempt while it runs; it deletes the row as it commits (`END_ATTEMPT`). A
    worker that dies before that leaves the row behind: the poison rule's evidence.
    """
    with get_autocommit_engine().connect() as conn:
        return conn.execute(sql.BEGIN_ATTEMPT, {"task_id": task_id, "ids": event_ids}).scalar_one()


def end_attempt(attempt: int | None) -> None:
    """Forget the attempt of a group whose failure the pipeline handles (rolled back, not a death)."""
    if attempt is None:
        return
    try:
        with get_autocommit_engine().connect() as conn:
            conn.execute(sql.END_ATTEMPT, {"attempt_id": attempt})
    except DBAPIError:  # the database is away: the events merely run alone next time
        log.warning("could not forget a group attempt", extra={"attempt_id": attempt}, exc_info=True)


def _rollback_quietly(conn: Connection) -> None:
    """Roll back after a failure; a connection that is already gone has nothing to roll back."""
    try:
        conn.rollback()
    except DBAPIError:
        log.warning("rollback failed: connection lost", exc_info=True)


def dead_letter(s, event_id: int, message: str, error_class: str, actor: str) -> None:
    """Move one event to `tds_dead_letter_queue`, mark it `dead` and audit it (caller's transaction)."""
    s.execute(sql.DEAD_LETTER, {"event_id": event_id, "message": message, "error_class": error_class,
                                "actor": actor})
    log.warning("event dead-lettered", extra={"event_id": event_id, "status": "dead", "error": message})


_pipelines: dict[str, Pipeline] = {}


def pipeline_for(entity_name: str) -> Pipeline:
    pipe = _pipelines.get(entity_name)
    if pipe is None:
        entity = get_entity(entity_name)
        if entity is None:
            raise PermanentError(f"unknown entity {entity_name!r}")
        pipe = _pipelines[entity_name] = Pipeline(entity)
    return pipe


__all__ = [
    "OUTCOMES",
    "PARK_AFTER_SECONDS",
    "Outcome",
    "Pipeline",
    "backoff_seconds",
    "classify",
    "dead_letter",
    "max_batch",
    "pipeline_for",
]

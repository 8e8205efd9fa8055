"""The poison rule on any pool: a group whose worker died applying it leaves a committed attempt, and each
of its events then runs alone — never co-applied again, never sinking a neighbour — whatever the pool
(a prefork child or a whole threads-pool process) and whether or not the broker says "redelivered"."""
from __future__ import annotations

import os

from sqlalchemy import text

from tasks.pipeline import Pipeline, pipeline_for
from tests.support.events import add_event
from tests.support.forks import exit_code_of_forked
from tests.support.webhooks import item


def q(db, sql, **params):
    with db.begin() as c:
        result = c.execute(text(sql), params)
        return result.all() if result.returns_rows else result.rowcount


def _products(n: int, start: int = 0) -> list[int]:
    return [add_event("products", "item", item(item_id=f"26466100000001{start + i:05d}")) for i in range(n)]


def _die_applying(event_id: int, co_apply: int) -> int:
    """Run the event's task in a forked process that dies (os._exit) in the middle of applying its group."""
    def doomed():
        def die(conn, events):
            os._exit(1)

        Pipeline.apply = staticmethod(die)
        pipeline_for("products").run([event_id], "doomed-task", co_apply=co_apply)

    return exit_code_of_forked(doomed)


def test_a_group_whose_worker_died_leaves_its_attempt_and_nothing_else(db):
    ids = _products(4)
    assert _die_applying(ids[0], co_apply=63) == 1
    assert {r.status for r in q(db, "SELECT status FROM tds_sync_queue")} == {"pending"}
    attempts = q(db, "SELECT celery_task_id, event_ids FROM tds_group_attempts")
    assert [(a.celery_task_id, sorted(a.event_ids)) for a in attempts] == [("doomed-task", ids)]
    assert q(db, "SELECT count(*) FROM products")[0][0] == 0


def test_after_the_death_no_group_takes_its_events_and_each_runs_alone(db):
    lost = _products(4)
    assert _die_applying(lost[0], co_apply=63) == 1
    fresh = _products(3, start=50)

    # A fresh event's task co-applies the other fresh events, never the lost ones.
    out = pipeline_for("products").run([fresh[0]], "task-fresh", co_apply=63)
    assert sorted(out.applied) == sorted(fresh) and sorted(out.co_applied) == sorted(fresh[1:])

    # Each lost event's own message (re-published by the healer, not flagged redelivered) runs it alone.
    for n, event_id in enumerate(lost):
        out = pipeline_for("products").run([event_id], f"task-lost-{n}", co_apply=63)
        assert out.applied == [event_id] and out.co_applied == [], (event_id, out)
        remaining = q(db, "SELECT coalesce(array_agg(e), '{}') FROM tds_group_attempts, unnest(event_ids) e")[0][0]
        assert event_id not in remaining
    assert q(db, "SELECT count(*) FROM tds_group_attempts")[0][0] == 0
    assert q(db, "SELECT count(*) FROM tds_sync_queue WHERE status = 'completed'")[0][0] == 7


def test_a_lost_event_that_kills_its_worker_again_stays_claimed_for_the_healer_which_counts_the_attempt(db):
    from tasks.heal import release_stuck

    lost = _products(2)
    assert _die_applying(lost[0], co_apply=63) == 1
    assert _die_applying(lost[0], co_apply=63) == 1  # alone this time: its claim is committed first
    row = q(db, "SELECT status, celery_task_id, retry_count FROM tds_sync_queue WHERE id = :i", i=lost[0])[0]
    assert (row.status, row.celery_task_id, row.retry_count) == ("processing", "doomed-task", 0)
    neighbour = q(db, "SELECT status FROM tds_sync_queue WHERE id = :i", i=lost[1])[0].status
    assert neighbour == "pending"  # not taken into the second, fatal run
    q(db, "UPDATE tds_sync_queue SET locked_until = now() - interval '1 second' WHERE id = :i", i=lost[0])
    assert release_stuck.run()["released"] == 1
    row = q(db, "SELECT status, retry_count FROM tds_sync_queue WHERE id = :i", i=lost[0])[0]
    assert (row.status, row.retry_count) == ("failed", 1)


def test_applied_and_failed_groups_leave_no_attempt_behind(db):
    ids = _products(3)
    ids.append(add_event("products", "item", {**item(item_id="2646610000000199999"), "rate": "1e999"}))
    out = pipeline_for("products").run([ids[0]], "task-1", co_apply=63)
    assert sorted(out.applied) == sorted(ids[:3])
    assert q(db, "SELECT count(*) FROM tds_group_attempts")[0][0] == 0


def test_the_healer_sweeps_lost_attempts_whose_events_are_all_closed(db):
    from tasks.heal import release_stuck

    ids = _products(2)
    assert _die_applying(ids[0], co_apply=63) == 1
    q(db, "UPDATE tds_sync_queue SET status = 'completed'")  # e.g. an operator closed them by hand
    q(db, "UPDATE tds_group_attempts SET started_at = now() - interval '2 minutes'")
    assert release_stuck.run()["attempts_pruned"] == 1
    assert q(db, "SELECT count(*) FROM tds_group_attempts")[0][0] == 0

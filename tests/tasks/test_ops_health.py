"""The seeds' extra health checks and the exit-status vocabulary, against real PostgreSQL and Redis."""
from __future__ import annotations

from sqlalchemy import text

from models.settings import reset_settings
from tasks.health import exit_code_for, health_report
from tests.tasks.test_health import seed


def checks(**kwargs) -> dict[str, dict]:
    return health_report(workers=False, **kwargs)["checks"]


def test_a_sync_stopped_for_hours_is_unhealthy_exit_2_not_unreachable_exit_3(db, redis_client):
    seed(db, 3, "pending", age_minutes=7 * 60)
    report = health_report(workers=False, zoho=False)
    assert report["status"] == "emergency"  # CONTRACT §7: sync stopped > 6 h
    assert report["checks"]["database"]["verdict"] == "healthy"
    assert exit_code_for(report) == 2  # the database and the broker answer: not "unreachable"


def test_exit_3_means_the_database_or_broker_cannot_be_reached():
    down = {"status": "emergency", "checks": {"database": {"value": "unreachable", "verdict": "emergency"}}}
    assert exit_code_for(down) == 3


def test_work_waiting_longer_than_the_window_with_under_10_items_a_minute_is_a_warning(db, redis_client):
    seed(db, 20, "pending", age_minutes=15)
    seed(db, 30, "completed", age_minutes=5)  # 3 a minute over the last 10 minutes
    rate = checks(zoho=False)["processing_rate"]
    assert (rate["verdict"], rate["value"]) == ("warning", 3.0)


def test_a_fast_queue_or_an_empty_one_is_not_slow(db, redis_client):
    assert checks(zoho=False)["processing_rate"]["verdict"] == "healthy"  # nothing waits
    seed(db, 20, "pending", age_minutes=15)
    seed(db, 150, "completed", age_minutes=5)
    assert checks(zoho=False)["processing_rate"]["verdict"] == "healthy"  # 15 a minute


def test_an_event_claimed_for_45_minutes_is_a_stuck_lock_warning(db, redis_client):
    ids = seed(db, 1, "processing")
    assert checks(zoho=False)["stuck_locks"]["verdict"] == "healthy"
    with db.begin() as c:
        c.execute(text("UPDATE tds_sync_queue SET updated_at = now() - interval '45 minutes' WHERE id = :i"),
                  {"i": ids[0]})
    lock = checks(zoho=False)["stuck_locks"]
    assert lock["verdict"] == "warning" and lock["value"] >= 45 * 60


def test_more_than_90_percent_of_the_days_api_budget_used_is_a_warning(db, redis_client, monkeypatch):
    from zoho.ratelimit import RateLimiter

    monkeypatch.setenv("ZOHO_DAILY_CALL_BUDGET", "20")
    reset_settings()
    try:
        limiter = RateLimiter()
        for _ in range(18):
            limiter.acquire("realtime", timeout=1)
        assert checks()["api_budget_used"]["verdict"] == "healthy"  # 90 % exactly
        limiter.acquire("realtime", timeout=1)
        used = checks()["api_budget_used"]
        assert (used["verdict"], used["value"]) == ("warning", 95.0)
    finally:
        monkeypatch.delenv("ZOHO_DAILY_CALL_BUDGET")
        reset_settings()

"""The health verdict against real PostgreSQL and Redis: the thresholds of docs/reference.md#health-thresholds exactly, and never a crash."""
from __future__ import annotations

import json
import sys

import pytest
from sqlalchemy import text

from models.db import reset_engine
from models.settings import reset_settings
from tasks.health import evaluate, exit_code, graded, health_report


def seed(db, n: int, status: str = "pending", entity: str = "products", age_minutes: float = 0,
         latency_seconds: float = 5, error: str | None = None) -> list[int]:
    """`n` events in one statement, received `age_minutes` ago (completed ones `latency_seconds` later)."""
    with db.begin() as c:
        return list(c.execute(text(
            """
            INSERT INTO tds_sync_queue (entity_type, entity_id, operation, status, payload, payload_hash, dedupe_key,
                                        error_message, retry_count, created_at, updated_at, completed_at)
            SELECT :entity, (2646610000000000000 + g)::text, 'upsert', :status,
                   jsonb_build_object('item', jsonb_build_object('item_id', (2646610000000000000 + g)::text)),
                   md5(g::text), md5(random()::text || clock_timestamp()::text || g), :error,
                   CASE WHEN :status IN ('failed', 'dead') THEN 2 ELSE 0 END,
                   now() - make_interval(secs => :age), now() - make_interval(secs => :age),
                   CASE WHEN :status = 'completed'
                        THEN now() - make_interval(secs => :age) + make_interval(secs => :latency) END
              FROM generate_series(1, :n) AS g
            RETURNING id
            """
        ), {"n": n, "status": status, "entity": entity, "age": age_minutes * 60, "latency": latency_seconds,
            "error": error}).scalars())


def seed_dead_letters(db, n: int, resolved: bool = False, entity: str = "products",
                      error: str = "rate: not a number", error_class: str = "MappingError") -> list[int]:
    ids = seed(db, n, "dead", entity, error=error)
    with db.begin() as c:
        c.execute(text(
            "INSERT INTO tds_dead_letter_queue (original_id, entity_type, entity_id, operation, payload, error_message, "
            "error_class, retry_count, resolved_at) SELECT id, entity_type, entity_id, operation, payload, error_message, "
            ":cls, retry_count, CASE WHEN :r THEN now() END FROM tds_sync_queue WHERE id = ANY(:ids)"),
            {"ids": ids, "r": resolved, "cls": error_class})
    return ids


def verdicts(**kwargs) -> dict[str, str]:
    report = health_report(workers=False, zoho=False, **kwargs)
    return {name: c["verdict"] for name, c in report["checks"].items()}


def test_an_empty_quiet_mirror_is_healthy_in_every_queue_check(db, redis_client):
    report = health_report(workers=False, zoho=False)
    assert report["status"] == "healthy"
    checks = report["checks"]
    assert {"database", "broker", "pending", "failed", "dead_letters", "sync_stopped",
            "sync_delay.products"} <= set(checks)
    for check in checks.values():
        assert set(check) >= {"value", "threshold", "verdict", "message"}
    assert checks["pending"]["threshold"] == {"warning": 50, "critical": 200}
    assert checks["failed"]["threshold"] == {"warning": 5, "critical": 20}
    assert checks["dead_letters"]["threshold"] == {"critical": 10}
    assert checks["sync_delay.products"]["threshold"] == {"warning": 1800, "critical": 7200}
    assert checks["sync_stopped"]["threshold"] == {"emergency": 21600}


@pytest.mark.parametrize("n, expected", [(50, "healthy"), (51, "warning"), (200, "warning"), (201, "critical")])
def test_pending_thresholds_are_exactly_50_and_200(db, redis_client, n, expected):
    seed(db, n, "pending")
    assert verdicts()["pending"] == expected


@pytest.mark.parametrize("n, expected", [(5, "healthy"), (6, "warning"), (20, "warning"), (21, "critical")])
def test_failed_thresholds_are_exactly_5_and_20(db, redis_client, n, expected):
    seed(db, n, "failed", error="HTTP 503")
    assert verdicts()["failed"] == expected


def test_more_than_10_unresolved_dead_letters_is_critical_and_resolved_ones_do_not_count(db, redis_client):
    seed_dead_letters(db, 10)
    seed_dead_letters(db, 5, resolved=True)
    assert verdicts()["dead_letters"] == "healthy"
    seed_dead_letters(db, 1)
    report = health_report(workers=False, zoho=False)
    assert report["checks"]["dead_letters"]["value"] == 11
    assert report["checks"]["dead_letters"]["verdict"] == "critical" and report["status"] == "critical"


@pytest.mark.parametrize("age_minutes, expected", [(29, "healthy"), (31, "warning"), (119, "warning"), (121, "critical")])
def test_sync_delay_is_the_age_of_the_oldest_waiting_event_per_entity(db, redis_client, age_minutes, expected):
    seed(db, 1, "pending", "customers", age_minutes=age_minutes)
    seed(db, 3, "completed", "products", age_minutes=600)  # old but applied: no delay
    seed(db, 2, "dead", "products", age_minutes=600)  # waits for a person, not a worker: no delay
    v = verdicts()
    assert v["sync_delay.customers"] == expected
    assert v["sync_delay.products"] == "healthy"
    value = health_report(workers=False, zoho=False)["checks"]["sync_delay.customers"]["value"]
    assert age_minutes * 60 - 5 <= value <= age_minutes * 60 + 60


def test_failed_events_still_waiting_for_a_retry_count_as_delay(db, redis_client):
    seed(db, 1, "failed", "vendors", age_minutes=45, error="HTTP 500")
    assert verdicts()["sync_delay.vendors"] == "warning"


def test_sync_stopped_over_6_hours_is_an_emergency_but_a_slow_moving_queue_is_not(db, redis_client):
    seed(db, 1, "pending", "products", age_minutes=7 * 60)
    seed(db, 5, "completed", "products", age_minutes=8 * 60)
    report = health_report(workers=False, zoho=False)
    assert report["checks"]["sync_stopped"]["verdict"] == "emergency"
    assert "products" in report["checks"]["sync_stopped"]["message"]
    assert report["status"] == "emergency"

    seed(db, 1, "completed", "products", age_minutes=1)  # something applied a minute ago: moving, only late
    report = health_report(workers=False, zoho=False)
    assert report["checks"]["sync_stopped"]["verdict"] == "healthy"
    assert report["checks"]["sync_delay.products"]["verdict"] == "critical"
    assert report["status"] == "critical"


def test_an_unreachable_database_is_an_emergency_verdict_not_an_exception(db, redis_client, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    reset_engine()
    try:
        report = health_report(workers=False, zoho=False)
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert report["status"] == "emergency"
    assert report["checks"]["database"]["verdict"] == "emergency"
    assert report["checks"]["pending"]["verdict"] == "unknown"
    assert report["checks"]["broker"]["verdict"] == "healthy"


def test_an_unreachable_broker_is_an_emergency_and_workers_are_unknown(db, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    try:
        report = health_report()
    finally:
        monkeypatch.undo()
        reset_settings()
    assert report["status"] == "emergency"
    assert report["checks"]["broker"]["verdict"] == "emergency"
    assert report["checks"]["workers"]["verdict"] == "unknown"
    assert report["checks"]["zoho_budget"]["verdict"] == report["checks"]["zoho_token"]["verdict"] == "unknown"
    assert report["checks"]["database"]["verdict"] == "healthy"


def test_no_worker_answering_is_critical(db, redis_client):
    report = evaluate(zoho=False, worker_timeout=0.3).report()
    assert report["checks"]["workers"]["verdict"] == "critical"
    assert report["checks"]["workers"]["value"] == 0
    assert report["status"] == "critical"


def test_absent_zoho_modules_make_token_and_budget_unknown_without_moving_the_status(db, redis_client, monkeypatch):
    monkeypatch.setitem(sys.modules, "zoho.oauth", None)  # import raises ImportError
    monkeypatch.setitem(sys.modules, "zoho.ratelimit", None)
    report = health_report(workers=False)
    assert report["checks"]["zoho_token"]["verdict"] == "unknown"
    assert report["checks"]["zoho_budget"]["verdict"] == "unknown"
    assert report["status"] == "healthy"


def test_the_budget_and_token_checks_read_zoho_modules_and_never_expose_a_token(db, redis_client):
    report = health_report(workers=False)
    budget = report["checks"]["zoho_budget"]
    assert budget["verdict"] == "healthy" and isinstance(budget["value"], int)
    assert report["checks"]["zoho_token"]["verdict"] in ("unknown", "healthy")
    assert "access_token" not in str(report)


def test_grading_and_exit_codes():
    assert graded(None, {"warning": 1}) == "healthy"
    assert graded(2, {"warning": 1, "critical": 2}) == "warning"
    assert graded(3, {"warning": 1, "critical": 2}) == "critical"
    # One vocabulary (README and CLI): 0 healthy, 1 degraded, 2 unhealthy, 3 unreachable (exit_code_for).
    assert [exit_code(s) for s in ("healthy", "warning", "critical", "emergency")] == [0, 1, 2, 2]


def _cli_health(env: dict) -> tuple[int, dict]:
    import json

    from tests.support.procs import run_cli

    done = run_cli(["health", "--json"], env)
    return done.returncode, json.loads(done.stdout)


@pytest.mark.e2e
def test_on_rabbitmq_health_probes_broker_and_workers_and_is_never_healthy_with_no_worker(db, redis_client):
    """The broker is probed through kombu and the workers through Celery's inspect API on RabbitMQ too."""
    from tests.conftest import TEST_BROKER_URL
    from tests.support.brokers import rabbit_vhost
    from tests.support.procs import child_env, start_worker

    with rabbit_vhost() as amqp:
        env = child_env(CELERY_BROKER_URL=amqp, REDIS_URL=TEST_BROKER_URL)
        code, report = _cli_health(env)
        assert report["checks"]["broker"]["verdict"] == "healthy", report
        assert report["checks"]["coordination"]["verdict"] == "healthy"
        assert report["checks"]["workers"]["verdict"] == "critical" and report["checks"]["workers"]["value"] == 0
        assert (code, report["status"]) == (2, "critical")
        worker = start_worker(env, "rabbit-health", concurrency=1)
        try:
            code, report = _cli_health(env)
        finally:
            worker.stop()
        assert report["checks"]["workers"]["verdict"] == "healthy", report["checks"]["workers"]
        assert (code, report["status"]) == (0, "healthy")


def test_an_amqp_broker_without_redis_url_is_not_healthy_and_says_what_to_set(db, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:1//")
    monkeypatch.delenv("REDIS_URL", raising=False)
    reset_settings()
    from models import coord

    coord.forget_clients()
    try:
        report = health_report(workers=False, zoho=False)
    finally:
        monkeypatch.undo()
        reset_settings()
    assert report["checks"]["broker"]["verdict"] == "emergency"
    assert report["checks"]["coordination"]["verdict"] == "critical"
    assert "REDIS_URL is required" in report["checks"]["coordination"]["message"]
    assert "guest" not in json.dumps(report)


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
def test_queue_depths_come_from_a_passive_declare_on_either_broker(kind, redis_client, monkeypatch):
    from kombu import Connection, Exchange, Queue

    from tasks.health import queue_depths
    from tests.conftest import TEST_BROKER_URL
    from tests.support.brokers import broker_url

    with broker_url(kind, TEST_BROKER_URL) as url, Connection(url) as conn:
        queue = Queue("sync.products", Exchange("zohosync", type="direct"), routing_key="sync.products")
        producer = conn.Producer()
        for n in range(3):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key="sync.products", declare=[queue])
        monkeypatch.setenv("CELERY_BROKER_URL", url)
        reset_settings()
        try:
            depths = queue_depths(["sync.products", "no.such.queue"])
        finally:
            monkeypatch.undo()
            reset_settings()
    assert depths["sync.products"] == 3
    assert depths["no.such.queue"] in (None, 0)  # RabbitMQ: unknown (404); Redis: an empty list

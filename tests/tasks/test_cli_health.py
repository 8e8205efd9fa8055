"""`zohosync health` against the real database, broker and a real worker: the endpoint's verdict, exit code 0/1/2/3."""
from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from models.db import reset_engine
from models.settings import reset_settings
from tasks.cli import main
from tests.conftest import TEST_ADMIN_TOKEN
from tests.support.procs import child_env, start_worker
from tests.tasks.test_health import seed
from webhook_app import create_app


@pytest.fixture(scope="module")
def worker(database_url):
    proc = start_worker(child_env(), "cli-health", concurrency=1)
    yield proc
    proc.stop()


def run(*args):
    return CliRunner().invoke(main, ["health", *args])


def test_a_quiet_system_with_a_worker_is_healthy_and_exits_0(db, redis_client, worker):
    result = run()
    assert result.exit_code == 0, result.output
    assert "zohosync health: HEALTHY" in result.output
    for name in ("database", "broker", "pending", "failed", "dead_letters", "workers", "sync_stopped"):
        assert name in result.output


@pytest.mark.parametrize("pending, code, status", [(51, 1, "warning"), (201, 2, "critical")])
def test_warning_and_critical_exit_1_and_2(db, redis_client, worker, pending, code, status):
    seed(db, pending, "pending")
    result = run()
    assert result.exit_code == code, result.output
    assert f"zohosync health: {status.upper()}" in result.output
    assert re.search(rf"│ pending\s+│ {status}\s+│\s+{pending} │", result.output), result.output


def test_json_is_the_same_verdict_as_the_endpoint(db, redis_client, worker):
    seed(db, 7, "failed", "customers", error="HTTP 500")
    result = run("--json")
    assert result.exit_code == 1, result.output
    cli = json.loads(result.output)
    api = create_app().test_client().get("/api/zoho/dashboard/health",
                                         headers={"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}).json
    assert cli["status"] == api["status"] == "warning"
    assert {n: c["verdict"] for n, c in cli["checks"].items()} == {n: c["verdict"] for n, c in api["checks"].items()}
    assert cli["checks"]["failed"] == api["checks"]["failed"]


def test_an_unreachable_database_exits_3(db, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    reset_engine()
    try:
        result = run("--json")
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert result.exit_code == 3, result.output
    assert json.loads(result.output)["checks"]["database"]["verdict"] == "emergency"

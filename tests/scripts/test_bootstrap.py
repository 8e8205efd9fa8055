"""scripts/bootstrap.py as the Makefile runs it: uses a server that answers, starts local ones that do not.

The shared servers are only read (plus one throwaway database); the servers it starts listen
on free ports with their files in a temporary run directory, and are always stopped.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis

from tests.conftest import TEST_BROKER_URL, TEST_DATABASE_URL
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bootstrap.py"

pytestmark = pytest.mark.timeout(120)


def bootstrap(*args: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "ZOHOSYNC_ENV_FILE": "/nonexistent/.env", **env}
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=ROOT, env=full_env, capture_output=True,
                          text=True, timeout=100)


@pytest.fixture
def run_dir():
    # Reachable by the postgres system user (pytest's own temp dirs are closed to it when run as root).
    path = Path(tempfile.mkdtemp(prefix="zohosync-bootstrap-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    path.chmod(0o755)
    yield path
    bootstrap("--stop", "--run-dir", str(path))
    shutil.rmtree(path, ignore_errors=True)


def test_the_bootstrap_stays_under_300_lines():
    assert len(SCRIPT.read_text().splitlines()) < 300


def test_servers_that_answer_are_used_and_the_missing_database_is_created():
    name = f"zohosync_bootstrap_{uuid.uuid4().hex[:8]}"
    url = urlunsplit(urlsplit(TEST_DATABASE_URL)._replace(path=f"/{name}"))
    try:
        result = bootstrap(DATABASE_URL=url, CELERY_BROKER_URL=TEST_BROKER_URL)
        assert result.returncode == 0, result.stderr
        assert f"created database {name}" in result.stdout, result.stdout
        assert "started" not in result.stdout, result.stdout  # nothing was started: both servers answered
        again = bootstrap(DATABASE_URL=url, CELERY_BROKER_URL=TEST_BROKER_URL)
        assert again.returncode == 0, again.stderr
        assert "created database" not in again.stdout, again.stdout
    finally:
        p = urlsplit(TEST_DATABASE_URL)
        conn = psycopg2.connect(host=p.hostname, port=p.port, user=p.username, dbname="postgres")
        conn.autocommit = True
        conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.close()


def test_local_servers_that_do_not_answer_are_started_under_the_run_dir_and_stopped_by_stop(run_dir):
    pg_port, redis_port = free_port(), free_port()
    env = {"DATABASE_URL": f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/zohosync_fresh",
           "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0"}
    result = bootstrap("--run-dir", str(run_dir), "--database", "zohosync_fresh_test", **env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "started a private PostgreSQL" in result.stdout and "started a private Redis" in result.stdout
    conn = psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="zohosync_fresh_test")
    conn.close()
    assert redis.Redis(port=redis_port).ping()

    stopped = bootstrap("--stop", "--run-dir", str(run_dir))
    assert "stopped the private PostgreSQL" in stopped.stdout and "stopped the private Redis" in stopped.stdout
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(host="127.0.0.1", port=pg_port, user="postgres", dbname="postgres", connect_timeout=2)


def test_a_refused_login_is_reported_with_what_to_fix_and_nothing_is_started(run_dir):
    p = urlsplit(TEST_DATABASE_URL)
    user = f"nobody_{uuid.uuid4().hex[:8]}"  # no such role: the server answers, and refuses us
    url = f"postgresql+psycopg2://{user}:wrong@{p.hostname}:{p.port}/zohosync"
    result = bootstrap("--run-dir", str(run_dir), DATABASE_URL=url, CELERY_BROKER_URL=TEST_BROKER_URL)
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and user in result.stderr
    assert not (run_dir / "postgres").exists()

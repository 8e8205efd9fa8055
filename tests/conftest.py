"""Shared fixtures: a real PostgreSQL test database migrated with Alembic, a real Redis db.

The test database defaults to `zohosync_test` on the configured server; set
`ZOHOSYNC_TEST_DB` to run several suites side by side, and `ZOHOSYNC_TEST_REDIS_DB`
for the Redis database number.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

import pytest

_BASE_DB_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync")
_TEST_DB = os.environ.get("ZOHOSYNC_TEST_DB", "zohosync_test")
_parts = urlsplit(_BASE_DB_URL)
TEST_DATABASE_URL = urlunsplit(_parts._replace(path=f"/{_TEST_DB}"))
_BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
_REDIS_DB = os.environ.get("ZOHOSYNC_TEST_REDIS_DB", "15")
TEST_BROKER_URL = urlunsplit(urlsplit(_BROKER)._replace(path=f"/{_REDIS_DB}"))

TEST_WEBHOOK_SECRET = "test-webhook-secret-0123456789"
TEST_ADMIN_TOKEN = "test-admin-token-0123456789"

# Every import below this point reads these settings.
os.environ.update(
    {
        "DATABASE_URL": TEST_DATABASE_URL,
        "CELERY_BROKER_URL": TEST_BROKER_URL,
        "ZOHO_WEBHOOK_SECRET": TEST_WEBHOOK_SECRET,
        "ADMIN_TOKEN": TEST_ADMIN_TOKEN,
        "ZOHOSYNC_ENV_FILE": "/nonexistent/.env",
        "ZOHOSYNC_LOG_FORMAT": os.environ.get("ZOHOSYNC_LOG_FORMAT", "text"),
        # A sandbox started as a process (`python -m zoho_sandbox`) keeps the published OAuth client the
        # tests log in with, instead of this checkout's random sandbox-mode one (models.settings).
        "SANDBOX_CLIENT_ID": "sandbox-client-id",
        "SANDBOX_CLIENT_SECRET": "sandbox-client-secret",
        "SANDBOX_REFRESH_TOKEN": "sandbox-refresh-token",
    }
)

from sqlalchemy import create_engine, text  # noqa: E402

from models.settings import reset_settings  # noqa: E402

reset_settings()


def _ensure_database() -> None:
    admin = create_engine(urlunsplit(_parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        exists = conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": _TEST_DB}).scalar()
        if not exists:
            conn.execute(text(f'CREATE DATABASE "{_TEST_DB}"'))
    admin.dispose()


def _migrate_fresh() -> None:
    from alembic import command
    from alembic.config import Config

    engine = create_engine(TEST_DATABASE_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    cfg = Config(os.path.join(os.path.dirname(os.path.dirname(__file__)), "alembic.ini"))
    command.upgrade(cfg, "head")


@pytest.fixture(scope="session")
def database_url() -> str:
    _ensure_database()
    _migrate_fresh()
    return TEST_DATABASE_URL


@pytest.fixture
def db(database_url):
    """A clean database for one test: every table truncated; yields the shared engine."""
    from models import metadata
    from models.db import get_engine

    engine = get_engine()
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    from tasks.health import forget_probes

    forget_probes()  # a worker seen by an earlier test must not answer for this one
    yield engine


@pytest.fixture
def redis_client():
    import redis

    client = redis.Redis.from_url(TEST_BROKER_URL)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture
def client(db, redis_client):
    """The receiver's Flask test client on a clean database and Redis."""
    from webhook_app import create_app

    app = create_app()
    app.testing = True
    return app.test_client()

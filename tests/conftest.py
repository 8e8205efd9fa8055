"""Shared fixtures: a real PostgreSQL test database migrated with Alembic, a real Redis db.

The test database defaults to `zohosync_test` on the configured server; set
`ZOHOSYNC_TEST_DB` to run several suites side by side, and `ZOHOSYNC_TEST_REDIS_DB`
for the Redis database number. Under pytest-xdist (`make test` runs `-n 4`) every worker
has its own database (`<test db>_gw0`, `_gw1`, …, each a copy of `<test db>_template`) and its own Redis
server on a free port (tests/support/servers.py), so workers never see each other's rows, keys or messages.
"""
from __future__ import annotations

import atexit
import os
import shutil
from urllib.parse import urlsplit, urlunsplit

import pytest

_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … under xdist; "" otherwise
_BASE_DB_URL = os.environ.get("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync")
_BASE_TEST_DB = os.environ.get("ZOHOSYNC_TEST_DB", "zohosync_test")
_TEST_DB = _BASE_TEST_DB + (f"_{_WORKER}" if _WORKER else "")
_TEMPLATE_DB = f"{_BASE_TEST_DB}_template"  # every worker's database is a copy of it (_fresh_database)
_parts = urlsplit(_BASE_DB_URL)
TEST_DATABASE_URL = urlunsplit(_parts._replace(path=f"/{_TEST_DB}"))
_BROKER = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
_REDIS_DB = os.environ.get("ZOHOSYNC_TEST_REDIS_DB", "15")
_WORKER_REDIS = None
if _WORKER and shutil.which("redis-server"):
    from tests.support.servers import PrivateRedis

    _WORKER_REDIS = PrivateRedis(die_with_parent=True)
    atexit.register(_WORKER_REDIS.close)  # its files too (the server itself also dies with this process)
    _BROKER = _WORKER_REDIS.url
elif _WORKER:  # no redis-server binary to start one per worker: a database number per worker instead
    _REDIS_DB = str((int(_REDIS_DB) + int(_WORKER.lstrip("gw"))) % 16)
TEST_BROKER_URL = urlunsplit(urlsplit(_BROKER)._replace(path=f"/{_REDIS_DB}"))

TEST_WEBHOOK_SECRET = "test-webhook-secret-0123456789"
TEST_ADMIN_TOKEN = "test-admin-token-0123456789"

# The shell's ports are for the stack a developer runs beside the tests; the suite uses free ports
# and expects the documented defaults wherever a port is only displayed.
for _port in ("WEB_PORT", "FLOWER_PORT", "SANDBOX_PORT"):
    os.environ.pop(_port, None)

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
        # Hypothesis looks for plugins in every installed distribution's entry points when it is imported
        # (~0.3 s in each test process); this project uses none.
        "HYPOTHESIS_NO_PLUGINS": "1",
    }
)

from sqlalchemy import create_engine, text  # noqa: E402

from models.settings import reset_settings  # noqa: E402

reset_settings()


def _migrations_fingerprint() -> str:
    """A digest of every migration file: a template built from other migrations is rebuilt, not reused."""
    import hashlib

    from tests.support.procs import ROOT

    digest = hashlib.sha256()
    for path in sorted(p for p in (ROOT / "migrations").rglob("*") if p.suffix in (".py", ".mako")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _fresh_database() -> None:
    """This process's test database, made fresh from a template migrated once per set of migrations.

    Every xdist process used to run all the migrations on its own database (~1.5 s of CPU each); now the
    first to get here builds `<test db>_template` (under an advisory lock, its migrations' fingerprint in the
    database's comment) and each copies it, which PostgreSQL does in a fraction of a second.
    """
    fingerprint = _migrations_fingerprint()
    admin = create_engine(urlunsplit(_parts._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(hashtext(:n))"), {"n": _TEMPLATE_DB})
        try:
            built = conn.execute(text("SELECT shobj_description(oid, 'pg_database') FROM pg_database "
                                      "WHERE datname = :n"), {"n": _TEMPLATE_DB}).first()
            if built is None or built[0] != fingerprint:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{_TEMPLATE_DB}" WITH (FORCE)'))
                conn.execute(text(f'CREATE DATABASE "{_TEMPLATE_DB}"'))
                _migrate(urlunsplit(_parts._replace(path=f"/{_TEMPLATE_DB}")))
                conn.execute(text(f"COMMENT ON DATABASE \"{_TEMPLATE_DB}\" IS '{fingerprint}'"))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{_TEST_DB}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{_TEST_DB}" TEMPLATE "{_TEMPLATE_DB}"'))
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(hashtext(:n))"), {"n": _TEMPLATE_DB})
    admin.dispose()


def _migrate(url: str) -> None:
    """Every migration, on the database at `url`."""
    from alembic import command
    from alembic.config import Config

    from tests.support.procs import ROOT

    cfg = Config(str(ROOT / "alembic.ini"))
    engine = create_engine(url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    engine.dispose()


@pytest.fixture(scope="session", autouse=True)
def process_logs(tmp_path_factory) -> str:
    """Logs of the processes tests start (tests/support/procs.py) in this run's temporary directory, kept for
    post-mortems and pruned by pytest with the run (its last three stay), not left in /tmp for ever."""
    from tests.support.procs import LOG_DIR_ENV

    directory = str(tmp_path_factory.mktemp("process-logs"))
    os.environ[LOG_DIR_ENV] = directory
    return directory


@pytest.fixture(scope="session")
def database_url() -> str:
    _fresh_database()
    return TEST_DATABASE_URL


BIG = 5000  # rows above which TRUNCATE beats DELETE


def clean_tables(engine) -> list[str]:
    """Empty the tables earlier tests wrote to, and restart the sequences they used; the names cleaned.

    What `TRUNCATE <every table> RESTART IDENTITY` did, at a fraction of the cost: TRUNCATE
    replaces each table's files (about a second for all 27 on a busy machine), while most tests
    touch two or three small tables. One query finds the tables with rows (and the big ones);
    small ones are emptied by DELETE, children first, big ones by TRUNCATE; used sequences
    start again at 1, so ids are as predictable as on a fresh database.
    """
    from models import metadata

    tables = list(reversed(metadata.sorted_tables))  # children before their parents
    probe = " UNION ALL ".join(
        f"SELECT '{t.name}', EXISTS (SELECT 1 FROM \"{t.name}\" OFFSET {BIG}) WHERE EXISTS (SELECT 1 FROM \"{t.name}\")"
        for t in tables)
    with engine.begin() as conn:
        dirty = dict(conn.execute(text(probe)).all())
        big = [name for name, is_big in dirty.items() if is_big]
        if big:
            conn.execute(text(f"TRUNCATE {', '.join(f'{chr(34)}{n}{chr(34)}' for n in big)} CASCADE"))
        for t in tables:
            if t.name in dirty and t.name not in big:
                conn.execute(text(f'DELETE FROM "{t.name}"'))
        used = conn.execute(text("SELECT schemaname || '.' || sequencename FROM pg_sequences "
                                 "WHERE schemaname = 'public' AND last_value IS NOT NULL")).scalars().all()
        for seq in used:
            conn.execute(text("SELECT setval(CAST(:s AS regclass), 1, false)"), {"s": seq})
    return list(dirty)


@pytest.fixture
def db(database_url):
    """A clean database for one test: the tables earlier tests wrote emptied; yields the shared engine."""
    from models.db import get_engine

    engine = get_engine()
    clean_tables(engine)
    from tasks.health import forget_probes

    forget_probes()  # a worker seen by an earlier test must not answer for this one
    from tasks.pipeline import co_applied_memo

    co_applied_memo.clear()  # ids restart with the emptied tables: an earlier test's must not answer
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


def pytest_collection_modifyitems(items):
    """Long files first: under `make test`'s `--dist loadfile --no-loadscope-reorder` each xdist worker starts
    on one of them, so their waits (a worker booting, a heal interval) overlap the thousands of quick tests
    instead of queueing on the worker that collected their directory. Fault runs (`slow`), then end-to-end
    files (`e2e`), then the rest, each in collection order."""
    items.sort(key=lambda item: (item.get_closest_marker("slow") is None, item.get_closest_marker("e2e") is None))


def pytest_sessionstart(session):
    """In a fresh checkout, each xdist worker would rewrite the asserts of every test module (pytest keeps the
    result in `__pycache__`, ~3 s of CPU for the suite), all four at once and in the same order, so none finds
    another's. When the whole suite is collected, each worker first imports the test modules starting a quarter
    further along (worker k of n at k/n of the list): every module is rewritten about once, and the others load
    the cached result. The imports are the ones collection does next, by the same import system and pytest's
    rewriting hook; a module that fails to import is left for collection to report."""
    import importlib

    from tests.support.procs import ROOT

    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not _WORKER or count < 2 or session.config.args_source != pytest.Config.ArgsSource.TESTPATHS:
        return
    modules = sorted(".".join(p.relative_to(ROOT).with_suffix("").parts) for p in (ROOT / "tests").rglob("test_*.py"))
    start = len(modules) * int(_WORKER.lstrip("gw")) // count
    for name in modules[start:] + modules[:start]:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - collection imports it again and reports why it fails
            pass

"""scripts/ensure_services.py against real servers: the shared ones (only ever read, plus one
throwaway database) and private ones it starts on free ports under temp dirs and always stops."""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
import redis

from scripts import ensure_services as es
from tests.conftest import TEST_BROKER_URL, TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "ensure_services.py"
SHARED_SERVER_URL = urlunsplit(urlsplit(TEST_DATABASE_URL)._replace(path="/postgres"))

pytestmark = pytest.mark.timeout(120)


def run_script(*args: str, env: dict[str, str] | None = None, stdlib_only: bool = True,
               timeout: float = 90) -> subprocess.CompletedProcess:
    """The script as the Makefile runs it; `-S` hides site-packages, proving it needs only the stdlib."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    full_env["ZOHOSYNC_ENV_FILE"] = "/nonexistent/.env"
    full_env.update(env or {})
    argv = [sys.executable, *(["-S"] if stdlib_only else []), str(SCRIPT), *args]
    return subprocess.run(argv, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def refuses(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return False
    except OSError:
        return True


def pg_url(port: int, db: str, user: str = "postgres", password: str | None = None) -> str:
    auth = f"{user}:{password}" if password else user
    return f"postgresql+psycopg2://{auth}@127.0.0.1:{port}/{db}"


def connect(url: str):
    p = urlsplit(url)
    return psycopg2.connect(host=p.hostname, port=p.port, user=p.username, password=p.password,
                            dbname=p.path.lstrip("/"), connect_timeout=5)


def database_exists(server_url: str, name: str) -> bool:
    conn = connect(server_url)
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cur.fetchone() is not None
    finally:
        conn.close()


def drop_database(server_url: str, name: str) -> None:
    conn = connect(server_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        conn.close()


# --------------------------------------------------------------------------- configuration


def test_env_file_is_read_and_the_environment_wins(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# comment\n"
        "export DATABASE_URL='postgresql+psycopg2://u:p@db.example:6543/erp'\n"
        'CELERY_BROKER_URL="redis://cache.example:6380/2"  \n'
        "ZOHO_DC=eu # trailing comment\n"
        "not a line\n"
    )
    assert es.read_env_file(env_file)["ZOHO_DC"] == "eu"
    assert es.load_urls(env_file, {}) == ("postgresql+psycopg2://u:p@db.example:6543/erp", "redis://cache.example:6380/2")
    assert es.load_urls(env_file, {"DATABASE_URL": "postgresql://x@h/d"})[0] == "postgresql://x@h/d"
    assert es.load_urls(tmp_path / "missing", {}) == (es.DEFAULT_DATABASE_URL, es.DEFAULT_BROKER_URL)


def test_urls_are_parsed_like_libpq_and_redis_py():
    t = es.parse_database_url("postgresql+psycopg2://us%40er:p%3Ass@db.example:6543/erp?sslmode=require")
    assert (t.host, t.port, t.user, t.password, t.database, t.sslmode, t.local) == (
        "db.example", 6543, "us@er", "p:ss", "erp", "require", False)
    t = es.parse_database_url(es.DEFAULT_DATABASE_URL)
    assert (t.host, t.port, t.user, t.password, t.database, t.local) == ("127.0.0.1", 5432, "postgres", None,
                                                                         "zohosync", True)
    assert es.parse_database_url("postgresql://postgres@/zohosync?host=/var/run/postgresql").address == \
        "/var/run/postgresql/.s.PGSQL.5432"
    r = es.parse_broker_url("rediss://:secret@cache.example:6380/4?ssl_cert_reqs=none")
    assert (r.host, r.port, r.db, r.password, r.tls, r.verify, r.local) == ("cache.example", 6380, 4, "secret",
                                                                             True, False, False)
    assert es.parse_broker_url("redis://localhost").port == 6379
    with pytest.raises(es.ServiceError, match="PostgreSQL URL"):
        es.parse_database_url("sqlite:///erp.db")


def test_debian_clusters_are_found_with_their_ports(tmp_path):
    (tmp_path / "15" / "main").mkdir(parents=True)
    (tmp_path / "15" / "main" / "postgresql.conf").write_text("# port = 1\nport = 5433\t# (change requires restart)\n")
    (tmp_path / "16" / "other").mkdir(parents=True)
    (tmp_path / "16" / "other" / "postgresql.conf").write_text("listen_addresses = '*'\n")
    assert es.debian_clusters(str(tmp_path)) == [("15", "main", 5433), ("16", "other", 5432)]


# --------------------------------------------------------------------------- the shared services


def test_shared_services_answer_and_a_missing_database_is_created():
    name = f"zohosync_ensure_{uuid.uuid4().hex[:10]}"
    env = {"DATABASE_URL": SHARED_SERVER_URL, "CELERY_BROKER_URL": TEST_BROKER_URL}
    try:
        first = run_script("--database", name, env=env)
        assert first.returncode == 0, first.stderr
        assert "postgres: ok (127.0.0.1:5432; created database " + name + ")" in first.stdout
        assert "redis: ok (127.0.0.1:6379)" in first.stdout
        assert database_exists(SHARED_SERVER_URL, name)

        again = run_script("--database", name, env=env)
        assert again.returncode == 0, again.stderr
        assert again.stdout.splitlines() == ["postgres: ok (127.0.0.1:5432)", "redis: ok (127.0.0.1:6379)"]
    finally:
        drop_database(SHARED_SERVER_URL, name)


def test_the_database_of_the_url_itself_is_created_too():
    name = f"zohosync_ensure_{uuid.uuid4().hex[:10]}"
    url = urlunsplit(urlsplit(SHARED_SERVER_URL)._replace(path=f"/{name}"))
    try:
        result = run_script("--no-start", env={"DATABASE_URL": url, "CELERY_BROKER_URL": TEST_BROKER_URL})
        assert result.returncode == 0, result.stderr
        assert f"created database {name}" in result.stdout
        assert database_exists(SHARED_SERVER_URL, name)
    finally:
        drop_database(SHARED_SERVER_URL, name)


# --------------------------------------------------------------------------- failures with clear messages


def test_a_closed_local_port_with_no_start_fails_and_says_what_to_do(tmp_path):
    pg_port, redis_port = free_port(), free_port()
    result = run_script("--no-start", "--run-dir", str(tmp_path / "run"),
                        env={"DATABASE_URL": pg_url(pg_port, "zohosync"),
                             "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0"})
    assert result.returncode != 0
    assert f"PostgreSQL does not answer on 127.0.0.1:{pg_port}" in result.stderr
    assert f"Redis does not answer on 127.0.0.1:{redis_port}" in result.stderr
    assert "DATABASE_URL" in result.stderr and "CELERY_BROKER_URL" in result.stderr
    assert refuses(pg_port) and refuses(redis_port)
    assert not (tmp_path / "run").exists()


def test_an_unreachable_remote_host_is_reported_never_started(tmp_path):
    result = run_script("--timeout", "1", "--run-dir", str(tmp_path / "run"),
                        env={"DATABASE_URL": "postgresql://x@10.255.255.1:5432/db",
                             "CELERY_BROKER_URL": "redis://nonexistent-host.invalid:6379/0"})
    assert result.returncode != 0
    assert "10.255.255.1:5432" in result.stderr and "DATABASE_URL" in result.stderr
    assert "nonexistent-host.invalid:6379 does not answer" in result.stderr
    assert "not local, so nothing was started" in result.stderr
    assert not (tmp_path / "run").exists()


def test_something_else_on_the_port_is_named_as_such():
    pg = urlsplit(SHARED_SERVER_URL)
    broker = urlsplit(TEST_BROKER_URL)
    result = run_script("--no-start", env={"DATABASE_URL": f"postgresql://postgres@127.0.0.1:{broker.port}/x",
                                           "CELERY_BROKER_URL": f"redis://127.0.0.1:{pg.port}/0"})
    assert result.returncode != 0
    assert f"something on 127.0.0.1:{broker.port} answers but is not PostgreSQL" in result.stderr
    assert f"something on 127.0.0.1:{pg.port} answers but is not Redis" in result.stderr


def test_a_wrong_user_is_an_error_naming_the_fix():
    result = run_script("--no-start", env={"DATABASE_URL": "postgresql://no_such_role_zz@127.0.0.1:5432/x",
                                           "CELERY_BROKER_URL": TEST_BROKER_URL})
    assert result.returncode != 0
    assert "refused user 'no_such_role_zz'" in result.stderr and "DATABASE_URL" in result.stderr


# --------------------------------------------------------------------------- starting and stopping


def test_private_mode_starts_answers_restarts_and_stops(tmp_path):
    pg_port, redis_port = free_port(), free_port()
    run_dir = tmp_path / "private"
    started = run_script("--private", str(run_dir), "--pg-port", str(pg_port), "--redis-port", str(redis_port))
    try:
        assert started.returncode == 0, started.stderr
        urls = json.loads(started.stdout)
        assert urls["DATABASE_URL"] == pg_url(pg_port, "zohosync")
        assert urls["CELERY_BROKER_URL"] == f"redis://127.0.0.1:{redis_port}/0"

        conn = connect(urls["DATABASE_URL"])
        with conn, conn.cursor() as cur:
            cur.execute("SELECT 1")
            assert cur.fetchone() == (1,)
            cur.execute("CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
        conn.close()
        r = redis.Redis.from_url(urls["CELERY_BROKER_URL"])
        assert r.ping()
        r.set("lost-on-restart", "1")
        assert r.config_get("save")["save"] == "" and r.config_get("appendonly")["appendonly"] == "no"
        r.close()

        pg_before = es.PgConnection(es.parse_database_url(urls["DATABASE_URL"]))
        svc = es.restart_private_postgres(run_dir / "postgres", pg_port)
        with pytest.raises(es.PgForeign):  # the old connection was cut by the fast shutdown
            pg_before.query("SELECT 1")
        pg_before.close()
        conn = connect(urls["DATABASE_URL"])
        with conn, conn.cursor() as cur:
            cur.execute("SELECT v FROM kept")
            assert cur.fetchone() == (42,)
        conn.close()
        assert svc.url == urls["DATABASE_URL"]

        es.restart_private_redis(run_dir / "redis", redis_port)
        r = redis.Redis.from_url(urls["CELERY_BROKER_URL"])
        assert r.ping() and r.get("lost-on-restart") is None
        r.close()

        # starting again while running is a no-op that keeps the same servers
        again = es.start_private_postgres(run_dir / "postgres", pg_port)
        assert again.pid == svc.pid
    finally:
        stopped = run_script("--stop-private", str(run_dir))
    assert stopped.returncode == 0, stopped.stderr
    assert "stopped: redis, postgres" in stopped.stdout
    assert refuses(pg_port) and refuses(redis_port)
    assert not (run_dir / "postgres" / es._PG_POINTER).exists()  # a cluster kept outside DIR is gone too
    assert run_script("--stop-private", str(run_dir)).stdout.strip() == "stopped: nothing was running"


def test_local_services_that_do_not_answer_are_started_once_then_found(tmp_path):
    pg_port, redis_port = free_port(), free_port()
    run_dir = tmp_path / "run"
    env = {"DATABASE_URL": pg_url(pg_port, "zohosync_dev"), "CELERY_BROKER_URL": f"redis://localhost:{redis_port}/3"}
    argv = [sys.executable, "-S", str(SCRIPT), "--run-dir", str(run_dir), "--database", "zohosync_dev_test"]
    full_env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, **env,
                "ZOHOSYNC_ENV_FILE": "/nonexistent/.env"}
    try:
        # two at once, as two `make` invocations might: one starts, the other waits and finds them
        procs = [subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True) for _ in range(2)]
        outputs = [p.communicate(timeout=90) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], outputs
        joined = "".join(out for out, _ in outputs)
        assert joined.count("postgres: started a private cluster") == 1
        assert joined.count("redis: started a private server") == 1
        assert joined.count("postgres: ok") == 2 and joined.count("redis: ok") == 2

        conn = connect(pg_url(pg_port, "zohosync_dev_test"))
        with conn, conn.cursor() as cur:
            cur.execute("SHOW fsync")
            assert cur.fetchone() == ("on",)  # the development cluster is durable
        conn.close()
        assert redis.Redis(port=redis_port, db=3).ping()

        found = run_script("--run-dir", str(run_dir), "--database", "zohosync_dev_test", env=env)
        assert found.returncode == 0, found.stderr
        assert found.stdout.splitlines() == [f"postgres: ok (127.0.0.1:{pg_port})",
                                             f"redis: ok (localhost:{redis_port})"]

        stopped = run_script("--stop", "--run-dir", str(run_dir))
        assert stopped.stdout.strip() == "stopped: postgres, redis"
        assert refuses(pg_port) and refuses(redis_port)

        # the data survives a stop: started again, the databases are there and nothing is created
        restarted = run_script("--run-dir", str(run_dir), "--database", "zohosync_dev_test", env=env)
        assert restarted.returncode == 0, restarted.stderr
        assert "created database" not in restarted.stdout
    finally:
        es.stop_private_redis(run_dir / "redis")
        es.stop_private_postgres(run_dir / "postgres", remove=True)
    assert refuses(pg_port) and refuses(redis_port)


def test_stopping_never_touches_a_server_it_did_not_start(tmp_path):
    shared = redis.Redis.from_url(TEST_BROKER_URL)
    shared_pid = shared.info("server")["process_id"]
    fake = tmp_path / "redis"
    fake.mkdir()
    (fake / "redis.pid").write_text(f"{shared_pid}\n")  # a stale or copied pid file
    (fake / es._REDIS_STATE).write_text(json.dumps({"port": urlsplit(TEST_BROKER_URL).port, "host": "127.0.0.1"}))
    assert es.stop_private_redis(fake) is False
    assert es.stop_private_postgres(tmp_path / "pg") is False
    assert shared.ping() and shared.info("server")["process_id"] == shared_pid
    shared.close()
    assert es.pg_probe(es.parse_database_url(SHARED_SERVER_URL), 2).state == "ok"


def test_password_methods_and_tls_of_the_wire_client(tmp_path):
    """SCRAM-SHA-256, MD5 and cleartext passwords, and TLS, against a private cluster set up for them."""
    port = free_port()
    svc = es.start_private_postgres(tmp_path / "pg", port, ())
    try:
        data = Path(svc.data_dir)
        admin = connect(pg_url(port, "postgres"))
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute("SET password_encryption = 'scram-sha-256'")
            cur.execute("CREATE ROLE scram_user LOGIN CREATEDB PASSWORD 's3cret pass'")
            cur.execute("SET password_encryption = 'md5'")
            cur.execute("CREATE ROLE md5_user LOGIN PASSWORD 'md5-pass'")
            cur.execute("CREATE ROLE clear_user LOGIN PASSWORD 'clear-pass'")
        hba = data / "pg_hba.conf"
        hba.write_text("host all md5_user 127.0.0.1/32 md5\n"
                       "host all clear_user 127.0.0.1/32 password\n"
                       "host all scram_user 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        tls = shutil.which("openssl") is not None
        if tls:
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                            "/CN=localhost", "-keyout", str(data / "server.key"), "-out", str(data / "server.crt")],
                           check=True, capture_output=True)
            st = data.stat()
            for f in ("server.key", "server.crt"):
                os.chown(data / f, st.st_uid, st.st_gid)
            os.chmod(data / "server.key", 0o600)
        with admin.cursor() as cur:
            if tls:
                cur.execute("ALTER SYSTEM SET ssl = on")
            cur.execute("SELECT pg_reload_conf()")
        admin.close()

        def target(user, password, db="postgres", sslmode="prefer"):
            return es.parse_database_url(pg_url(port, db, user, password) + f"?sslmode={sslmode}")

        import time
        deadline = time.monotonic() + 10
        while es.pg_probe(target("md5_user", None), 2).state != "auth" and time.monotonic() < deadline:
            time.sleep(0.1)  # the reload is asynchronous

        assert es.pg_probe(target("scram_user", "s3cret pass"), 2).state == "ok"
        assert es.pg_probe(target("md5_user", "md5-pass"), 2).state == "ok"
        assert es.pg_probe(target("clear_user", "clear-pass"), 2).state == "ok"
        wrong = es.pg_probe(target("scram_user", "wrong"), 2)
        assert wrong.state == "auth" and "wrong" not in wrong.detail
        missing = es.pg_probe(target("md5_user", None), 2)
        assert missing.state == "auth" and "asks for a password" in missing.detail
        assert es.pg_probe(target("scram_user", "s3cret pass", "nope"), 2).state == "missing"
        assert es.create_database(target("scram_user", "s3cret pass"), "made_by_scram") is True
        assert es.create_database(target("scram_user", "s3cret pass"), "made_by_scram") is False
        if tls:
            with es.PgConnection(target("scram_user", "s3cret pass", sslmode="require"), 3) as conn:
                assert conn.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [("t",)]
            with es.PgConnection(target("scram_user", "s3cret pass", sslmode="disable"), 3) as conn:
                assert conn.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()") == [("f",)]
    finally:
        es.stop_private_postgres(tmp_path / "pg", port)
    assert refuses(port)

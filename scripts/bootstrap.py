"""Bootstrap for `make run` / `make test`: make PostgreSQL and Redis answer at the configured URLs.

Runs in the project's virtualenv (the Makefile installs it first), so it talks to the
servers with the project's own clients (psycopg2, redis-py) and starts them with the
machine's own tools (`pg_ctlcluster`, `initdb`/`pg_ctl`, `redis-server`):

1. `DATABASE_URL` / `CELERY_BROKER_URL` come from the environment, else `.env`
   (`$ZOHOSYNC_ENV_FILE`, else the checkout's root), else the documented defaults.
2. A server that answers is used as it is. One that does not, on this machine, is started:
   PostgreSQL as the Debian cluster on that port (`pg_ctlcluster`) or else a private cluster
   under `.run/postgres`; Redis as a private server under `.run/redis` without persistence.
3. Missing server binaries are installed with `apt-get install postgresql redis-server`
   when running as root; otherwise the message says what to install. A remote server is
   never started, only reported.
4. The databases named (the one in `DATABASE_URL`, plus `--database NAME`) are created.

    python scripts/bootstrap.py [--database NAME ...]
    python scripts/bootstrap.py --stop        # stop what it started under .run/
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import psycopg2
import redis
from dotenv import dotenv_values
from psycopg2 import sql

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"
DEFAULTS = {"DATABASE_URL": "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync",
            "CELERY_BROKER_URL": "redis://127.0.0.1:6379/0"}
LOCAL = {"localhost", "127.0.0.1", "::1", ""}
INSTALL = "sudo apt-get install postgresql redis-server"


class Fail(Exception):
    """Something the user has to fix; the message says what."""


def say(line: str) -> None:
    print(f"bootstrap: {line}", flush=True)


def settings() -> dict[str, str]:
    """The two URLs, read the way the application reads them (environment over `.env`)."""
    env_file = Path(os.environ.get("ZOHOSYNC_ENV_FILE") or ROOT / ".env")
    from_file = dotenv_values(env_file) if env_file.is_file() else {}
    return {k: os.environ.get(k) or from_file.get(k) or v for k, v in DEFAULTS.items()}


def pg_params(url: str, database: str | None = None) -> dict:
    u = urlsplit(url.replace("+psycopg2", ""))
    params = {"host": u.hostname or "127.0.0.1", "port": u.port or 5432, "user": unquote(u.username or "postgres"),
              "dbname": database or unquote(u.path.lstrip("/")) or "postgres", "connect_timeout": 10}
    if u.password:
        params["password"] = unquote(u.password)
    return params


def pg_answer(params: dict) -> str | None:
    """None when the server accepts us; else psycopg2's reason (refused, auth, missing database …)."""
    try:
        psycopg2.connect(**params).close()
        return None
    except psycopg2.OperationalError as e:
        return str(e).strip()


def wait(predicate, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.25)
    return False


def run(argv: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, its tools run as the `postgres` system user."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def pg_bindir() -> Path | None:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(re.sub(r"\D", "", d) or 0))
    found = [Path(d) for d in dirs if Path(d, "initdb").exists()]
    if found:
        return found[-1]
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def apt_install(packages: list[str]) -> bool:
    """Install server packages when this machine allows it (root and apt-get); False otherwise."""
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    say(f"installing {' '.join(packages)} with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    argv = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    if subprocess.run(argv, env=env).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env)
        if subprocess.run(argv, env=env).returncode != 0:
            raise Fail(f"apt-get could not install {' '.join(packages)}")
    return True


def debian_clusters(port: int) -> list[tuple[str, str]]:
    """(version, name) of every Debian cluster configured to listen on `port`."""
    found = []
    for conf in sorted(glob.glob("/etc/postgresql/*/*/postgresql.conf")):
        m = re.search(r"^\s*port\s*=\s*(\d+)", Path(conf).read_text(errors="replace"), re.M)
        if int(m.group(1) if m else 5432) == port:
            found.append((Path(conf).parts[-3], Path(conf).parts[-2]))
    return found


def trust_loopback(version: str, name: str, user: str) -> None:
    """On a cluster this run just installed, let `user` in over loopback without a password (Debian asks for one)."""
    hba = Path(f"/etc/postgresql/{version}/{name}/pg_hba.conf")
    text = hba.read_text()
    marker = "# zohosync: passwordless loopback for the development database (added by scripts/bootstrap.py)"
    if marker not in text:
        hba.write_text(f"{marker}\nhost all {user} 127.0.0.1/32 trust\nhost all {user} ::1/128 trust\n{text}")
    run(["pg_ctlcluster", version, name, "reload"])


def start_postgres(params: dict, installed: bool) -> None:
    port, host = params["port"], params["host"]
    if shutil.which("pg_ctlcluster"):
        for version, name in debian_clusters(port):
            result = run(["pg_ctlcluster", version, name, "start"])
            if result.returncode not in (0, 2):  # 2: already running
                say(f"cluster {version}/{name} did not start: {(result.stderr or result.stdout).strip()[:300]}")
                continue
            if installed and params.get("password") is None:
                trust_loopback(version, name, params["user"])
            say(f"started PostgreSQL cluster {version}/{name} (port {port})")
            return
    bindir = pg_bindir()
    if bindir is None:
        raise Fail(f"PostgreSQL does not answer on {host}:{port} and is not installed: run `{INSTALL}`, "
                   "or set DATABASE_URL to a server that runs")
    home = RUN_DIR / "postgres"
    data = home / "data"
    home.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
        for parent in home.parents:  # postgres must reach its data: traversable, not readable
            if parent.stat().st_mode & 0o001 == 0:
                raise Fail(f"{parent} is closed to the postgres user: set --run-dir to a directory it can reach")
    if not (data / "PG_VERSION").exists():
        result = run(as_postgres([str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", params["user"],
                                  "-E", "UTF8", "--locale=C.UTF-8"]))
        if result.returncode != 0:
            raise Fail(f"initdb failed in {data}: {result.stderr.strip()[-1000:]}")
    options = f"-p {port} -k {home} -c listen_addresses={'localhost' if host == 'localhost' else host}"
    result = run(as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-l", str(home / "postgres.log"), "-w",
                              "-o", options, "start"]))
    if result.returncode != 0:
        raise Fail(f"PostgreSQL did not start on port {port}: {result.stdout.strip()[-300:]} "
                   f"(log: {home / 'postgres.log'})")
    say(f"started a private PostgreSQL cluster in {home}; stop it with `make clean` or `{sys.argv[0]} --stop`")


def ensure_postgres(url: str, databases: list[str]) -> None:
    params = pg_params(url)
    admin = {**params, "dbname": "postgres"}
    where = f"{params['host']}:{params['port']}"
    reason = pg_answer(admin)
    if reason and any(w in reason for w in ("could not connect", "Connection refused", "translate host name")):
        if params["host"] not in LOCAL:
            raise Fail(f"PostgreSQL at {where} does not answer and is not on this machine: start it, "
                       f"or set DATABASE_URL (environment or .env) to a server that runs")
        installed = pg_bindir() is None and apt_install(["postgresql"])
        start_postgres(params, installed)
        wait(lambda: (r := pg_answer(admin)) is None or "password" in r or "does not exist" in r)
        reason = pg_answer(admin)
    if reason and "timeout expired" in reason:
        raise Fail(f"PostgreSQL on {where} did not answer within 10 s (overloaded, or a firewall drops packets)")
    if reason:
        raise Fail(f"PostgreSQL on {where} refused user {params['user']!r}: {reason}. Put the right user and "
                   "password in DATABASE_URL (postgresql+psycopg2://USER:PASSWORD@HOST:PORT/DB)")
    conn = psycopg2.connect(**admin)
    conn.autocommit = True
    created = []
    with conn.cursor() as cur:
        for name in dict.fromkeys([params["dbname"], *databases]):
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if cur.fetchone() is None:
                try:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                    created.append(name)
                except psycopg2.errors.DuplicateDatabase:
                    pass  # a parallel run created it first
    conn.close()
    say(f"PostgreSQL ok on {where}" + (f"; created database {', '.join(created)}" if created else ""))


def ensure_redis(url: str) -> None:
    u = urlsplit(url)
    host, port = u.hostname or "127.0.0.1", u.port or 6379
    client = redis.Redis.from_url(url, socket_connect_timeout=10)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    if not answers():
        if host not in LOCAL or u.scheme != "redis":
            raise Fail(f"Redis at {host}:{port} does not answer and is not a local plain server: start it, or set "
                       "CELERY_BROKER_URL (environment or .env) to a server that runs")
        server = shutil.which("redis-server") or (apt_install(["redis-server"]) and shutil.which("redis-server"))
        if not server:
            raise Fail(f"Redis does not answer on {host}:{port} and redis-server is not installed: run `{INSTALL}`")
        home = RUN_DIR / "redis"
        home.mkdir(parents=True, exist_ok=True)
        argv = [server, "--daemonize", "yes", "--bind", host if host != "localhost" else "127.0.0.1", "--port",
                str(port), "--save", "", "--appendonly", "no", "--dir", str(home), "--pidfile",
                str(home / "redis.pid"), "--logfile", str(home / "redis.log")]
        if u.password:
            argv += ["--requirepass", unquote(u.password)]
        result = run(argv)
        if result.returncode != 0 or not wait(answers):
            raise Fail(f"redis-server did not start on port {port} (log: {home / 'redis.log'})")
        say(f"started a private Redis in {home} (no persistence); stop it with `make clean`")
    try:
        client.ping()
    except redis.RedisError as e:
        raise Fail(f"Redis on {host}:{port} refused us: {e}. Check the credentials in CELERY_BROKER_URL") from e
    say(f"Redis ok on {host}:{port}")


def stop() -> None:
    """Stop only what this script started under .run/ (never the machine's own services); data stays."""
    data = RUN_DIR / "postgres" / "data"
    bindir = pg_bindir()
    if (data / "postmaster.pid").exists() and bindir:
        run(as_postgres([str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]))
        say("stopped the private PostgreSQL")
    pidfile = RUN_DIR / "redis" / "redis.pid"
    if pidfile.exists():
        pid = int(pidfile.read_text().strip() or 0)
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes() if Path(f"/proc/{pid}").exists() else b""
        if b"redis-server" in cmdline:
            os.kill(pid, signal.SIGTERM)
            say("stopped the private Redis")
        pidfile.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    global RUN_DIR
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--database", action="append", default=[], metavar="NAME", help="another database to create")
    p.add_argument("--stop", action="store_true", help="stop the servers this script started under .run/")
    p.add_argument("--run-dir", type=Path, default=RUN_DIR, help="where started servers keep their files")
    args = p.parse_args(argv)
    RUN_DIR = args.run_dir.absolute()
    try:
        if args.stop:
            stop()
            return 0
        urls = settings()
        ensure_postgres(urls["DATABASE_URL"], args.database)
        ensure_redis(urls["CELERY_BROKER_URL"])
    except Fail as e:
        print(f"bootstrap: {e}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

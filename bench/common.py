"""The bench's own world: a private database and Redis db, child processes on free ports, and /proc readings.

`configure_env()` must run before any project module is imported: settings are read once
per process, and every child the bench starts inherits the same environment.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.support.procs import Process, free_port, wait_worker_ready, worker_argv  # noqa: E402,F401  (one toolkit)
from tests.support.procs import wait_http as _wait_http  # noqa: E402
BIN = Path(sys.executable).parent

BENCH_DB = os.environ.get("ZOHOSYNC_BENCH_DB", "zohosync_bench")
BENCH_REDIS_DB = os.environ.get("ZOHOSYNC_BENCH_REDIS_DB", "13")
WEBHOOK_SECRET = "bench-webhook-secret-0123456789"
ADMIN_TOKEN = "bench-admin-token-0123456789"
GUNICORN_ARGS = ["-w", "2", "-k", "gthread", "--threads", "8"]
WORKER_CONCURRENCY = 2


def configure_env() -> dict[str, str]:
    """Point this process (and every child) at the bench database and Redis db."""
    base_db = os.environ.get("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync")
    base_broker = os.environ.get("CELERY_BROKER_URL", "redis://127.0.0.1:6379/0")
    env = {
        "DATABASE_URL": urlunsplit(urlsplit(base_db)._replace(path=f"/{BENCH_DB}")),
        "CELERY_BROKER_URL": urlunsplit(urlsplit(base_broker)._replace(path=f"/{BENCH_REDIS_DB}")),
        "ZOHO_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "ADMIN_TOKEN": ADMIN_TOKEN,
        "ZOHOSYNC_ENV_FILE": "/nonexistent/.env",
        "ZOHOSYNC_LOG_FORMAT": "json",
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("CELERY_RESULT_BACKEND", "ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN",
                 "ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL", "ZOHO_ORGANIZATION_ID"):
        os.environ.pop(name, None)
    os.environ.update(env)
    return env


def ensure_database() -> None:
    """Create the bench database if missing and migrate it from scratch with Alembic."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine, text

    url = os.environ["DATABASE_URL"]
    admin = create_engine(urlunsplit(urlsplit(url)._replace(path="/postgres")), isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        if not c.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": BENCH_DB}).scalar():
            c.execute(text(f'CREATE DATABASE "{BENCH_DB}"'))
    admin.dispose()
    engine = create_engine(url)
    with engine.begin() as c:
        c.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    command.upgrade(Config(str(ROOT / "alembic.ini")), "head")


def reset_state() -> None:
    """Empty every table (ours and the floors') and the bench Redis db between figures."""
    import redis
    from sqlalchemy import text

    from models import metadata
    from models.db import get_engine

    names = [f'"{t.name}"' for t in metadata.sorted_tables]
    with get_engine().begin() as c:
        extra = c.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                               "AND tablename LIKE 'bench_naive_%'")).scalars().all()
        c.execute(text(f"TRUNCATE {', '.join(names + [f'{t}' for t in extra])} RESTART IDENTITY CASCADE"))
    redis.Redis.from_url(os.environ["CELERY_BROKER_URL"]).flushdb()


def ensure_wrk() -> str:
    """wrk from Debian; installed with apt-get when missing and we are root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], check=False,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"}, stdout=subprocess.DEVNULL)
        found = shutil.which("wrk")
        if found:
            return found
    raise SystemExit("wrk is needed for the ingest figures: sudo apt-get install wrk")


class Proc(Process):
    """A child in its own process group, output kept in a log file; py-spy targets stop first."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str] | None = None):
        super().__init__(f"bench-{name}", argv, env or dict(os.environ))
        self.profiled = "py-spy" in Path(argv[0]).name

    @property
    def pid(self) -> int:
        return self.popen.pid

    def stop(self, timeout: float = 20) -> None:
        if self.alive() and self.profiled:
            # py-spy writes its profile only once its target exits: stop the target, not py-spy.
            for pid in process_tree(self.popen.pid)[1:2]:
                os.kill(pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout + 30)
            except subprocess.TimeoutExpired:
                pass
        super().stop(timeout)

    def __enter__(self) -> "Proc":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def wait_http(url: str, proc: Proc | None = None, timeout: float = 60) -> None:
    _wait_http(url, proc, timeout)


PROFILE_IDLE = os.environ.get("ZOHOSYNC_BENCH_PROFILE_IDLE", "1") != "0"
"""Wall-clock samples (waits on PostgreSQL and Redis included) unless set to 0: on-CPU only."""


def wrap(argv: list[str], profile: Path | None) -> list[str]:
    """Run under `py-spy record` (raw collapsed stacks, children included) when profiling."""
    if profile is None:
        return argv
    spy = shutil.which("py-spy") or str(BIN / "py-spy")
    return [spy, "record", "--subprocesses", *(["--idle"] if PROFILE_IDLE else []), "--format", "raw",
            "--rate", "200", "-o", str(profile), "--", *argv]


def start_gunicorn(name: str, app: str, port: int, profile: Path | None = None) -> Proc:
    proc = Proc(name, wrap([str(BIN / "gunicorn"), *GUNICORN_ARGS, "-b", f"127.0.0.1:{port}", app], profile))
    wait_http(f"http://127.0.0.1:{port}/healthz" if app.startswith("webhook_app") else f"http://127.0.0.1:{port}/",
              proc)
    return proc


def procfile_argv(group: str, procfile: Path = ROOT / "Procfile") -> list[str]:
    """The arguments of the Procfile's `group` line (`tasks.stack.read_procfile`), or [] if there is none."""
    import shlex

    from tasks.stack import read_procfile

    return shlex.split(read_procfile(procfile).get(group, ""))


def sync_worker_pool_args(group: str = "worker-catalog", procfile: Path = ROOT / "Procfile") -> list[str]:
    """The pool and concurrency the Procfile gives a sync worker group (`worker-catalog`, …), as flags.

    Ours and the floor both run with them, so the figure compares tasks, not pools. Overridden
    by `ZOHOSYNC_BENCH_WORKER_ARGS` (e.g. `-P prefork -c 2`) for an A/B of pools.
    """
    import shlex

    override = os.environ.get("ZOHOSYNC_BENCH_WORKER_ARGS")
    if override is not None:
        return shlex.split(override)
    argv = procfile_argv(group, procfile)
    return [a for flag in ("-P", "-c", "--prefetch-multiplier") if flag in argv
            for a in (flag, argv[argv.index(flag) + 1])]


def procfile_queues(group: str = "worker-catalog", procfile: Path = ROOT / "Procfile") -> str | None:
    """The queues (`-Q`) the Procfile's `group` consumes: ours runs exactly as `make run` starts it."""
    argv = procfile_argv(group, procfile)
    return argv[argv.index("-Q") + 1] if "-Q" in argv else None


def start_worker(name: str, app: str, queues: str | None = None, profile: Path | None = None,
                 group: str = "worker-catalog") -> Proc:
    """A real `celery worker` with the sync workers' pool flags (the same for ours and the floor), once ready."""
    argv = worker_argv(app, name, WORKER_CONCURRENCY, queues) + sync_worker_pool_args(group)
    proc = Proc(name, wrap(argv, profile))
    return wait_worker_ready(proc, timeout=90, interval=0.05)


def process_tree(root: int) -> list[int]:
    """`root` and every descendant, read from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            parents.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(parents.get(pid, []))
    return out


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmdline(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""

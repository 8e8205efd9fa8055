"""Throwaway PostgreSQL and Redis servers of a test's own (own port, own files), to kill and restart at will.

The fault tests stop and restart servers under load; doing that to the machine's shared
servers would break every other suite running beside them. These live in a temporary
directory, listen on a free loopback port, never persist anything they need not, and
`close()` removes them.
"""
from __future__ import annotations

import ctypes
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg2
import redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise RuntimeError("server did not answer in time")


def _pg_bin(tool: str) -> str:
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(re.sub(r"\D", "", d) or 0))
    for d in reversed(dirs):
        if os.path.exists(os.path.join(d, tool)):
            return os.path.join(d, tool)
    found = shutil.which(tool)
    if not found:
        raise RuntimeError(f"{tool} not found: install PostgreSQL's server package (apt-get install postgresql)")
    return found


class PrivatePostgres:
    """A cluster in a fresh directory, trust auth, fsync off; as root its tools run as `postgres`."""

    def __init__(self, port: int | None = None, databases=("zohosync",)):
        self.port = port or free_port()
        # postgres (not root) must reach its data directory: pytest's 0700 temp dirs would not do.
        self.home = Path(tempfile.mkdtemp(prefix="zohosync-pg-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
        self.data = self.home / "data"
        if os.geteuid() == 0:
            shutil.chown(self.home, "postgres", "postgres")
        self._tool([_pg_bin("initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                    "--locale=C.UTF-8", "--no-sync"])
        self.start()
        conn = psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres", dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            for name in databases:
                cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        self.url = f"postgresql+psycopg2://postgres@127.0.0.1:{self.port}/{databases[0]}"

    def _tool(self, argv: list[str]) -> None:
        if os.geteuid() == 0:
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = (f"-p {self.port} -k {self.home} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._tool([_pg_bin("pg_ctl"), "-D", str(self.data), "-l", str(self.home / "postgres.log"), "-w",
                    "-o", options, "start"])

    def stop(self) -> None:
        """Fast shutdown: connections drop, committed data stays."""
        if (self.data / "postmaster.pid").exists():
            self._tool([_pg_bin("pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"])

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the thread that started it ends (prctl's rule), however it ends."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG (Linux)


class PrivateRedis:
    """A redis-server child without persistence: a restart comes back empty (every message gone)."""

    def __init__(self, port: int | None = None, die_with_parent: bool = False):
        """`die_with_parent`: SIGTERM the server when the starting thread ends (a whole test process's Redis,
        started on its main thread; never one a helper thread restarts, whose end would take the server with it).
        """
        self.die_with_parent = die_with_parent and sys.platform == "linux"
        self.port = port or free_port()
        self.home = Path(tempfile.mkdtemp(prefix="zohosync-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        server = shutil.which("redis-server")
        if not server:
            raise RuntimeError("redis-server not found: install it (apt-get install redis-server)")
        self.proc = subprocess.Popen([server, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--dir", str(self.home)],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     preexec_fn=_die_with_parent if self.die_with_parent else None)
        client = redis.Redis(port=self.port, socket_connect_timeout=1)

        def answers() -> bool:
            try:
                return bool(client.ping())
            except redis.ConnectionError:
                return False

        _wait(answers)
        client.close()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=15)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)

"""Start the real processes (gunicorn receiver, Celery worker, beat) for end-to-end tests."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOG_DIR_ENV = "ZOHOSYNC_TEST_LOG_DIR"
"""Where the processes' logs go: under pytest's own temporary directory during a run (tests/conftest.py), which
pytest prunes to its last three runs; the system's temporary directory otherwise."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    """A child process in a session of its own, whose output goes to a log file kept for post-mortems.

    The venv's `celery`, `gunicorn` and `zohosync` are forked from tests.support.launch's server; any other
    command is run by `subprocess.Popen`. `popen` is either, through the same methods.
    """

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name = name
        self.log = tempfile.NamedTemporaryFile(prefix=f"zohosync-{name}-", suffix=".log", delete=False,
                                               dir=os.environ.get(LOG_DIR_ENV) or None)
        from tests.support.launch import FORKED, Child

        if Path(argv[0]).parent == BIN and Path(argv[0]).name in FORKED:
            self.popen = Child(argv, env, str(ROOT), self.log.name)
        else:
            self.popen = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
                                          start_new_session=True)

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")

    def kill(self, sig=signal.SIGKILL) -> None:
        if self.alive():
            os.killpg(self.popen.pid, sig)

    def stop(self, timeout: float = 15) -> None:
        """SIGTERM to its process group, SIGKILL past `timeout`."""
        stop_all([self], timeout)


def run_cli(args: list[str], env: dict[str, str], timeout: float = 60) -> subprocess.CompletedProcess:
    """`zohosync <args>` as a process of its own (forked like the workers), its output captured as text."""
    from tests.support.launch import run_script

    return run_script([str(BIN / "zohosync"), *args], env, str(ROOT), timeout)


def stop_all(procs, timeout: float = 15) -> None:
    """Stop several processes at once: SIGTERM to each, then wait for each (SIGKILL past `timeout`)."""
    procs = [p for p in procs if p.alive()]
    for p in procs:
        try:
            os.killpg(p.popen.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + timeout
    for p in procs:
        try:
            p.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(p.popen.pid, signal.SIGKILL)
            p.popen.wait()


def child_env(**overrides: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PYTHONUNBUFFERED": "1", "ZOHOSYNC_LOG_FORMAT": "json", **overrides})
    return env


def launch_receiver(env: dict[str, str], port: int, workers: int = 1) -> Process:
    """The gunicorn receiver, started but not waited for (`wait_http` on its /healthz before using it).

    One worker process of 8 threads carries every test's load; each more costs a boot (~0.6 s of CPU).
    """
    return Process("web", [str(BIN / "gunicorn"), "-w", str(workers), "-k", "gthread", "--threads", "8",
                           "-b", f"127.0.0.1:{port}", "webhook_app.wsgi:app"], env)


def start_receiver(env: dict[str, str], port: int, workers: int = 1) -> Process:
    proc = launch_receiver(env, port, workers)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    return proc


def worker_argv(app: str, name: str, concurrency: int = 2, queues: str | None = None) -> list[str]:
    """`celery -A <app> worker` as the tests and the bench run it (no gossip, no mingle)."""
    argv = [str(BIN / "celery"), "-A", app, "worker", "-l", "info", "-n", f"{name}@%h", "-c", str(concurrency),
            "--without-gossip", "--without-mingle"]
    return argv + ["-Q", queues] if queues else argv


def wait_worker_ready(proc: Process, timeout: float = 60, interval: float = 0.2) -> Process:
    """Return `proc` once Celery logs " ready."; stop it and raise (with its output) if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if " ready." in proc.output():
            return proc
        if not proc.alive():
            raise RuntimeError(f"{proc.name} died:\n{proc.output()[-3000:]}")
        time.sleep(interval)
    proc.stop()
    raise RuntimeError(f"{proc.name} not ready:\n{proc.output()[-3000:]}")


def start_worker(env: dict[str, str], name: str = "w1", queues: str | None = None, concurrency: int = 2) -> Process:
    return wait_worker_ready(Process(f"worker-{name}", worker_argv("tasks", name, concurrency, queues), env))


def launch_workers(env: dict[str, str], names, queues: str | None = None, concurrency: int = 2) -> dict[str, Process]:
    """Several named workers started at once, not waited for (`start_workers` waits)."""
    return {name: Process(f"worker-{name}", worker_argv("tasks", name, concurrency, queues), env) for name in names}


def start_workers(env: dict[str, str], names, queues: str | None = None, concurrency: int = 2,
                  meanwhile=None) -> dict[str, Process]:
    """Several named workers started at once (not one after the other); returns once every one is ready.

    `meanwhile` (a callable) runs while they boot; they are stopped if it raises.
    """
    procs = launch_workers(env, names, queues, concurrency)
    try:
        if meanwhile is not None:
            meanwhile()
        for proc in procs.values():
            wait_worker_ready(proc)
    except BaseException:
        stop_all(procs.values())
        raise
    return procs


def wait_http(url: str, proc: Process | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{proc.name} died:\n{proc.output()[-3000:]}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def wait_for(predicate, timeout: float = 20, interval: float = 0.1, message: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {message}")

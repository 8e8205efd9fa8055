"""Start the venv's console scripts `celery` (workers, beat, Flower), `gunicorn` and `zohosync` as real processes,
each forked from a server that has already imported the libraries they use.

Every Celery worker, beat, receiver and Flower a test starts used to import Celery's command line (with its
plugins: Flower, tornado, click-repl), kombu, SQLAlchemy, Flask and gunicorn from scratch, ~0.9 s of CPU of its
~2 s boot, some 25 times a run. Here a `multiprocessing` fork server imports them once per test process
(`set_forkserver_preload`) and each script runs in a fresh fork of it: its own pid, session, environment,
working directory and log, the real entry point with the real argv; only the libraries' import is shared.
Nothing of this project is preloaded: the project reads its settings (and the Celery app its broker) when it is
imported, and a child's environment differs from the server's (a RabbitMQ vhost, a log format).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
from importlib.metadata import entry_points
from pathlib import Path

PRELOAD = [
    "tests.support.launch",
    "celery.bin.celery", "celery.apps.worker", "celery.apps.beat", "celery.worker.consumer",
    "celery.concurrency.prefork", "kombu.transport.redis", "kombu.transport.pyamqp",
    "gunicorn.app.wsgiapp", "gunicorn.workers.gthread",
    "sqlalchemy.orm", "sqlalchemy.dialects.postgresql.psycopg2", "flask", "requests", "redis",
]
"""Libraries only: none of them reads the environment a child is given when it is imported."""

_context = None


def context():
    """This process's fork-server context, its preload set on first use (the server starts with the first child)."""
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


FORKED = frozenset({"celery", "gunicorn", "zohosync"})
"""The console scripts started this way; any other command is left to `subprocess`."""
SCRIPTS = {found.name: found for found in entry_points(group="console_scripts") if found.name in FORKED}
"""What `.venv/bin/<name>` runs, found once in the server (a scan of every installed distribution's metadata)."""


def script(name: str):
    """The entry point of the console script `name`, loaded."""
    return SCRIPTS[name].load()


def run(argv: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str) -> None:
    """In the forked child: become the process `argv` would be (session, directory, environment, output appended
    to the files `stdout` and `stderr`, which may be one), then run its console script."""
    os.setsid()
    multiprocessing.current_process().name = "MainProcess"  # what logging (Celery's `%(processName)s`) shows
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for target, path in ((1, stdout), (2, stderr)):
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(fd, target)
        os.close(fd)
    # Line by line, as PYTHONUNBUFFERED does for a script the tests start (they watch its log for " ready.").
    sys.stdout = open(1, "w", buffering=1, closefd=False)
    sys.stderr = open(2, "w", buffering=1, closefd=False)
    sys.argv = list(argv)
    sys.exit(script(Path(argv[0]).name)())


class Child:
    """A forked script seen through the part of `subprocess.Popen` the tests use.

    Daemonic: one a test left running is ended when the test process exits, rather than waited for."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str, stdout: str, stderr: str | None = None):
        self.args = argv
        self.process = context().Process(target=run, args=(argv, env, cwd, stdout, stderr or stdout), daemon=True)
        self.process.start()
        self.pid = self.process.pid

    @property
    def returncode(self) -> int | None:
        return self.process.exitcode

    def poll(self) -> int | None:
        return None if self.process.is_alive() else self.process.exitcode

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout)
        return self.process.exitcode

    def send_signal(self, sig: int) -> None:
        if self.process.is_alive():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


def run_script(argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> subprocess.CompletedProcess:
    """`subprocess.run(argv, capture_output=True, text=True)` for a console script, forked like `Child`."""
    with tempfile.NamedTemporaryFile("r") as out, tempfile.NamedTemporaryFile("r") as err:
        child = Child(argv, env, cwd, out.name, err.name)
        try:
            code = child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
            raise
        return subprocess.CompletedProcess(argv, code, out.read(), err.read())

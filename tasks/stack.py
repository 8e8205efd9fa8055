"""`zohosync stack` (what `make run` runs): every process of the system in the foreground.

Starts the webhook receiver (gunicorn), one Celery worker per queue group, beat, Flower
and — when no Zoho credentials are configured — the Zoho sandbox firing live webhooks.
Output is prefixed per process; Ctrl-C (or SIGTERM) stops everything it started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from dotenv import dotenv_values

from models.settings import get_settings, reset_settings
from zoho.entities import registry

ROOT = Path(__file__).resolve().parent.parent
RUN_DIR = ROOT / ".run"

CATALOG = ("products", "stock", "prices", "warehouses")
CONTACTS = ("customers", "vendors")


def queue_groups() -> dict[str, list[str]]:
    """Worker groups: catalog, contacts, documents (every other entity), maintenance and bulk.

    Pulls have their own worker: one waiting minutes on Zoho's rate limit must never hold
    the slots the healing and monitoring jobs need.
    """
    names = list(registry())
    groups = {
        "catalog": [f"sync.{n}" for n in names if n in CATALOG],
        "contacts": [f"sync.{n}" for n in names if n in CONTACTS],
        "documents": [f"sync.{n}" for n in names if n not in CATALOG + CONTACTS],
        "maintenance": ["maintenance"],
        "bulk": ["bulk"],
    }
    return {g: qs for g, qs in groups.items() if qs}


@dataclass
class Proc:
    name: str
    argv: list[str]
    popen: subprocess.Popen | None = None


COLOURS = ["36", "32", "33", "35", "34", "31", "96", "92"]


def _pump(proc: Proc, colour: str) -> None:
    assert proc.popen and proc.popen.stdout
    prefix = f"\033[{colour}m{proc.name:<12}|\033[0m " if sys.stdout.isatty() else f"{proc.name:<12}| "
    for line in iter(proc.popen.stdout.readline, b""):
        sys.stdout.write(prefix + line.decode("utf-8", "replace"))
        sys.stdout.flush()


def build_env() -> tuple[dict[str, str], bool]:
    """The children's environment; in sandbox mode the insecure dev values of `dev.env` fill gaps."""
    env = dict(os.environ)
    sandbox = get_settings().sandbox_mode
    if sandbox:
        for key, value in dotenv_values(ROOT / "dev.env").items():
            if value is not None and not env.get(key):
                env[key] = value
        os.environ.update({k: v for k, v in env.items() if k not in os.environ})
        reset_settings()
    env.setdefault("ZOHOSYNC_LOG_FORMAT", "text")
    env["PYTHONUNBUFFERED"] = "1"
    return env, sandbox


def processes(env: dict[str, str], sandbox: bool) -> list[Proc]:
    bin_dir = Path(sys.executable).parent
    s = get_settings()
    procs: list[Proc] = []
    if sandbox:
        procs.append(Proc("sandbox", [sys.executable, "-m", "zoho_sandbox", "--port", str(s.sandbox_port),
                                      "--live", "--webhook-url", f"http://127.0.0.1:{s.web_port}",
                                      "--webhook-secret", env.get("ZOHO_WEBHOOK_SECRET", ""),
                                      "--drop-rate", env.get("SANDBOX_DROP_RATE", "0.1")]))
    procs.append(Proc("web", [str(bin_dir / "gunicorn"), "-w", env.get("WEB_WORKERS", "2"), "-k", "gthread",
                              "--threads", "8", "-b", f"0.0.0.0:{s.web_port}", "--access-logfile", "-",
                              "webhook_app.wsgi:app"]))
    celery = str(bin_dir / "celery")
    for group, queues in queue_groups().items():
        conc = "1" if group in ("contacts",) else "2"
        # Pulls advance page task by page task with priorities: a bulk worker that prefetched
        # dozens of them would run them in arrival order, so it takes one message per free slot.
        prefetch = ["--prefetch-multiplier", "1"] if group == "bulk" else []
        procs.append(Proc(f"worker-{group}", [celery, "-A", "tasks", "worker", "-l", "info", "-Q", ",".join(queues),
                                              "-n", f"{group}@%h", "-c", conc, "-E", *prefetch]))
    RUN_DIR.mkdir(exist_ok=True)
    procs.append(Proc("beat", [celery, "-A", "tasks", "beat", "-l", "info",
                               "-s", str(RUN_DIR / "celerybeat-schedule")]))
    flower = [celery, "-A", "tasks", "flower", f"--port={s.flower_port}", "--persistent=True",
              f"--db={RUN_DIR / 'flower.db'}"]
    # Flower reads FLOWER_BASIC_AUTH from its environment: credentials stay off argv (and `ps`).
    if not env.get("FLOWER_BASIC_AUTH"):
        env.pop("FLOWER_BASIC_AUTH", None)  # an empty value would lock every operator out
    procs.append(Proc("flower", flower))
    return procs


MAX_RESTARTS = 5
RESTART_WINDOW = 60.0


def _enqueue_first_pull() -> None:
    """An incremental pull of every entity now, not at beat's first interval: the ERP fills at start.

    Cheap when nothing changed (one call per list); the pull lock keeps it from doubling a
    running one; a broker that is not answering only costs the wait for beat.
    """
    from tasks import app

    try:
        app.send_task("bulk.pull_all", kwargs={"full": False})
        print("first incremental pull of every entity enqueued (bulk.pull_all)", flush=True)
    except Exception as e:  # noqa: BLE001 - the stack must come up even so
        print(f"could not enqueue the first pull ({type(e).__name__}); beat will pull on schedule", flush=True)


def run_stack() -> int:
    env, sandbox = build_env()
    procs = processes(env, sandbox)
    stopping = threading.Event()

    def stop(*_):
        stopping.set()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    s = get_settings()
    def launch(i: int, proc: Proc) -> None:
        proc.popen = subprocess.Popen(proc.argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        threading.Thread(target=_pump, args=(proc, COLOURS[i % len(COLOURS)]), daemon=True).start()

    for i, proc in enumerate(procs):
        launch(i, proc)
    _enqueue_first_pull()
    print(f"zohosync is up — receiver http://127.0.0.1:{s.web_port}/api/zoho/webhooks/<entity>, "
          f"dashboard http://127.0.0.1:{s.web_port}/dashboard, Flower http://127.0.0.1:{s.flower_port}"
          + (f", Zoho sandbox http://127.0.0.1:{s.sandbox_port}" if sandbox else "") + ". Ctrl-C stops it all.",
          flush=True)
    code = 0
    restarts: dict[str, list[float]] = {}
    while not stopping.is_set():
        for i, proc in enumerate(procs):
            if not proc.popen or proc.popen.poll() is None or stopping.is_set():
                continue
            # A supervisor's job: a process that dies is started again (its unfinished events are
            # healed from the mirror); one that keeps dying stops the stack so someone looks.
            recent = [t for t in restarts.get(proc.name, []) if time.monotonic() - t < RESTART_WINDOW]
            if len(recent) >= MAX_RESTARTS:
                print(f"{proc.name} exited with {proc.popen.returncode} {len(recent) + 1} times within "
                      f"{RESTART_WINDOW:.0f} s; stopping the stack", flush=True)
                code = proc.popen.returncode or 1
                stopping.set()
                break
            print(f"{proc.name} exited with {proc.popen.returncode}; starting it again", flush=True)
            restarts[proc.name] = recent + [time.monotonic()]
            stopping.wait(1.0)
            if not stopping.is_set():
                launch(i, proc)
        stopping.wait(0.5)
    for proc in procs:
        if proc.popen and proc.popen.poll() is None:
            os.killpg(proc.popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        if proc.popen:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(proc.popen.pid, signal.SIGKILL)
    print("zohosync stopped.", flush=True)
    return code

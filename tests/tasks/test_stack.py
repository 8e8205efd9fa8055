"""The one description of the processes: the Procfile, run by `make run` under supervisord and by docker compose."""
from __future__ import annotations

import os
import shlex
import signal
import sys
import threading
import time
from pathlib import Path

import yaml

from tasks import stack

ROOT = Path(__file__).resolve().parents[2]


def test_every_declared_queue_is_consumed_by_exactly_one_worker_group_and_pulls_have_their_own():
    from tasks import app

    consumed: dict[str, str] = {}
    for name, command in stack.read_procfile().items():
        argv = shlex.split(command)
        if argv[:4] == ["celery", "-A", "tasks", "worker"]:
            for queue in argv[argv.index("-Q") + 1].split(","):
                assert queue not in consumed, f"{queue} consumed by {consumed.get(queue)} and {name}"
                consumed[queue] = name
    assert set(consumed) == {q.name for q in app.conf.task_queues}
    assert [q for q, w in consumed.items() if w == consumed["bulk"]] == ["bulk"]
    assert consumed["maintenance"] != consumed["bulk"]


def test_the_procfile_names_the_whole_stack():
    procs = stack.read_procfile()
    assert shlex.split(procs["web"]) == ["gunicorn", "webhook_app.wsgi:app"]  # bind: gunicorn.conf.py
    assert shlex.split(procs["flower"]) == ["celery", "-A", "tasks", "flower"]  # address: flowerconfig.py
    assert {"beat", "sandbox", "watchdog"} <= set(procs)


def test_docker_compose_runs_the_same_processes_with_the_same_commands():
    services = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    procs = stack.read_procfile()
    for name, command in procs.items():
        assert name in services, f"docker-compose.yml has no service {name}"
        assert services[name]["command"] == shlex.split(command), name
    app_services = {n for n, s in services.items() if s.get("image", "").startswith("zohosync")}
    assert app_services - set(procs) == {"migrate"}  # nothing runs in compose that make run lacks


def test_the_sandbox_runs_only_in_sandbox_mode():
    procs = stack.read_procfile()
    assert "sandbox" in stack.selected(procs, sandbox=True)
    without = stack.selected(procs, sandbox=False)
    assert "sandbox" not in without and set(procs) - set(without) == {"sandbox"}


def test_the_supervisord_config_escapes_percent_signs_and_restarts_every_program():
    conf = stack.supervisord_conf({"w": "celery -A tasks worker -n w@%h"}, Path("/tmp/x"))
    assert "command=celery -A tasks worker -n w@%%h" in conf
    assert "autorestart=true" in conf and "stopasgroup=true" in conf


def test_a_process_that_dies_is_started_again_and_sigterm_stops_the_whole_stack(tmp_path, capfd):
    """capfd makes stdout a regular file: the case where programs writing to /dev/stdout clobbered each other."""
    marker = tmp_path / "died-once"
    procfile = tmp_path / "Procfile"
    flaky = tmp_path / "flaky.py"
    flaky.write_text(f"import os, sys, time\nif not os.path.exists({str(marker)!r}):\n"
                     f"    open({str(marker)!r}, 'w').close()\n    sys.exit(9)\n"
                     f"open({str(tmp_path / 'up')!r}, 'w').close()\nprint('flaky is up', flush=True)\ntime.sleep(60)\n")
    procfile.write_text(f"flaky: {sys.executable} {flaky}\nsteady: {sys.executable} -c 'import time; time.sleep(60)'\n")
    capfd.readouterr()

    previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    # Once the first run has died, allow for the restart back-off, then stop the stack like `kill` would.
    def stop_later():
        deadline = time.monotonic() + 40
        while not marker.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(4)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_later, daemon=True).start()
    try:
        code = stack.run_stack(procfile, tmp_path / "run", first_pull=False, startsecs=1)
    finally:
        signal.signal(signal.SIGINT, previous[0])
        signal.signal(signal.SIGTERM, previous[1])
    out = capfd.readouterr().out
    assert code == 0, out
    assert "exited: flaky (exit status 9" in out and out.count("spawned: 'flaky'") == 2, out
    assert (tmp_path / "up").exists()  # the second start got going
    assert "flaky is up" in out  # the processes' own output reaches the stack's stdout, whatever it is
    assert "exited: steady" not in out.split("received SIGTERM")[0], out  # the other kept running
    assert "stopped: steady" in out and "stopped: flaky" in out


def test_the_catalog_and_document_workers_run_threads_with_every_statement_bounded():
    """The busy sync workers run the threads pool (bench/README.md); the poison rule holds on it
    (tests/tasks/test_poison_rule.py). That pool has no task time limit, so every PostgreSQL statement of
    such a worker is bounded instead. Pulls keep prefork: their pages run under a time limit."""
    from tasks.base import STATEMENT_TIMEOUT_SECONDS, with_statement_timeout

    pools = {}
    for name, command in stack.read_procfile().items():
        argv = shlex.split(command)
        if name.startswith("worker-"):
            pools[name] = argv[argv.index("-P") + 1] if "-P" in argv else "prefork"
    assert pools["worker-catalog"] == pools["worker-documents"] == "threads", pools
    assert pools["worker-bulk"] == "prefork", pools
    assert with_statement_timeout("") == f"-c statement_timeout={STATEMENT_TIMEOUT_SECONDS * 1000}"
    assert with_statement_timeout("-c search_path=x") == "-c search_path=x -c statement_timeout=240000"
    assert with_statement_timeout("-c statement_timeout=5s") == "-c statement_timeout=5s"

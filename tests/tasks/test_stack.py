"""The `make run` supervisor: a child that dies is started again; one that keeps dying stops the stack."""
from __future__ import annotations

import os
import signal
import sys
import threading

from tasks import stack


def _fake_stack(monkeypatch, procs):
    monkeypatch.setattr(stack, "build_env", lambda: (dict(os.environ), False))
    monkeypatch.setattr(stack, "processes", lambda env, sandbox: procs)
    monkeypatch.setattr(stack, "_enqueue_first_pull", lambda: None)


def test_a_child_that_keeps_dying_stops_the_stack_with_its_exit_code(monkeypatch, capsys):
    monkeypatch.setattr(stack, "MAX_RESTARTS", 2)
    crasher = stack.Proc("crasher", [sys.executable, "-c", "import sys; sys.exit(3)"])
    _fake_stack(monkeypatch, [crasher])
    assert stack.run_stack() == 3
    out = capsys.readouterr().out
    assert out.count("crasher exited with 3; starting it again") == 2
    assert "3 times within 60 s; stopping the stack" in out


def test_a_child_that_dies_once_is_started_again_and_the_others_keep_running(monkeypatch, tmp_path, capsys):
    marker = tmp_path / "crashed-once"
    flaky = stack.Proc("flaky", [sys.executable, "-c",
                                 f"import os, sys, time\n"
                                 f"if not os.path.exists({str(marker)!r}):\n"
                                 f"    open({str(marker)!r}, 'w').close(); sys.exit(9)\n"
                                 f"time.sleep(60)"])
    steady = stack.Proc("steady", [sys.executable, "-c", "import time; time.sleep(60)"])
    _fake_stack(monkeypatch, [flaky, steady])
    first_steady_pid = []

    def stop_later():
        # Wait for the restart, then stop the stack like Ctrl-C does.
        for _ in range(100):
            if flaky.popen is not None and marker.exists() and flaky.popen.poll() is None and flaky.popen.pid:
                break
            threading.Event().wait(0.1)
        threading.Event().wait(2.0)
        first_steady_pid.append(steady.popen.pid)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_later, daemon=True).start()
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert stack.run_stack() == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    out = capsys.readouterr().out
    assert "flaky exited with 9; starting it again" in out
    assert "steady exited" not in out
    assert flaky.popen.returncode is not None and steady.popen.returncode is not None  # both stopped at the end


def test_pulls_get_their_own_worker_so_heal_and_monitor_are_never_starved():
    groups = stack.queue_groups()
    assert groups["bulk"] == ["bulk"]
    assert "bulk" not in groups["maintenance"] and "maintenance" in groups["maintenance"]
    consumed = [q for qs in groups.values() for q in qs]
    assert len(consumed) == len(set(consumed))  # each queue has exactly one worker group
    from tasks import app

    declared = {q.name for q in app.conf.task_queues}
    assert declared == set(consumed)  # and every declared queue is consumed by one

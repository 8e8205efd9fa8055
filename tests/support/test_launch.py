"""tests/support/launch.py: a console script forked from the preloaded server behaves as the script run by
`subprocess` would: its own argv, environment, session and exit status, its output where it was sent."""
from __future__ import annotations

import os
import signal

from tests.support.launch import Child
from tests.support.procs import BIN, Process, child_env, free_port, run_cli, wait_for


def test_a_script_answers_with_its_exit_status_and_its_stdout_and_stderr_apart():
    helped = run_cli(["--help"], child_env())
    assert helped.returncode == 0
    assert helped.stdout.startswith("Usage: zohosync") and helped.stderr == ""
    unknown = run_cli(["no-such-command"], child_env())
    assert unknown.returncode == 2
    assert unknown.stdout == "" and "No such command 'no-such-command'" in unknown.stderr


def test_the_script_runs_with_the_environment_it_is_given_not_the_servers():
    env = child_env(DATABASE_URL="postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    done = run_cli(["runs"], env)
    assert done.returncode != 0
    assert "port 1 failed" in done.stderr  # the given database, not the test database this process uses


def test_a_started_script_leads_its_own_session_and_dies_by_signal_like_a_popen_child():
    proc = Process("launch-flower", [str(BIN / "celery"), "-A", "tasks", "flower", f"--port={free_port()}",
                                     "--address=127.0.0.1"], child_env())
    assert isinstance(proc.popen, Child)
    wait_for(lambda: proc.output(), timeout=30, message="its first line in the log")
    assert os.getsid(proc.popen.pid) == proc.popen.pid
    proc.kill(signal.SIGKILL)
    assert proc.popen.wait(timeout=30) == -signal.SIGKILL
    assert not proc.alive() and proc.popen.poll() == -signal.SIGKILL

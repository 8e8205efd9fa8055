"""Children made with a plain `os.fork`: a piece of the worker that dies in the middle, as a SIGKILLed worker
would, and racing processes forked from one spawned interpreter (tests/zoho/client/workers.py).

A plain `os.fork`, not `multiprocessing`: its after-fork hooks close the parent's pooled broker
connections in the child, and kombu's Redis channel then waits out a pending BRPOP (up to 10 s
per channel) before the child does anything.
"""
from __future__ import annotations

import os
from collections.abc import Callable

RAISED = 2
"""The exit code of a child whose function raised."""


def fork(child: Callable[[], None]) -> int:
    """Fork; the child calls `child()` and exits (0, or RAISED if it raised), never returning. The child's pid."""
    pid = os.fork()
    if pid == 0:
        status = RAISED
        try:
            child()
            status = 0
        finally:
            os._exit(status)
    return pid


def exit_code(pid: int) -> int:
    """Wait for a forked child; its exit code."""
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def exit_code_of_forked(doomed: Callable[[], None]) -> int:
    """Fork; in the child drop the inherited database connections, call `doomed()`, then exit (code 0).

    `doomed` ends the child itself with `os._exit(n)` where the worker should die. Returns the
    child's exit code (RAISED if `doomed` raised).
    """

    def child() -> None:
        from models.db import dispose_after_fork

        dispose_after_fork()
        doomed()

    return exit_code(fork(child))

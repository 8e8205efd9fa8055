"""Run a piece of the worker in a forked child that dies in the middle, as a SIGKILLed worker would."""
from __future__ import annotations

import os


def exit_code_of_forked(doomed) -> int:
    """Fork; in the child drop the inherited database connections, call `doomed()`, then exit (code 0).

    `doomed` ends the child itself with `os._exit(n)` where the worker should die. A plain
    `os.fork`, not `multiprocessing`: its after-fork hooks close the parent's pooled broker
    connections in the child, and kombu's Redis channel then waits out a pending BRPOP
    (up to 10 s per channel) before the child does anything. Returns the child's exit code
    (2 if `doomed` raised).
    """
    pid = os.fork()
    if pid == 0:
        status = 2
        try:
            from models.db import dispose_after_fork

            dispose_after_fork()
            doomed()
            status = 0
        finally:
            os._exit(status)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)

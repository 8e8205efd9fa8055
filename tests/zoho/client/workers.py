"""Entry points for the separate processes the concurrency tests start (spawned: importable, top level).

Each child reads the same environment as the test (settings, Redis db, sandbox URL)
and reports what it got through a queue; none of them patches anything.

A test wanting many processes spawns one running `forked`, which forks the rest: one
interpreter start (about a CPU-second: it imports the project) instead of one per process.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from tests.support.forks import exit_code, fork

# Imported here, not in the functions: the process `forked` runs in has them loaded before it forks.
from zoho.errors import RateLimited
from zoho.oauth import TokenManager
from zoho.ratelimit import RateLimiter


def forked(target: Callable[..., None], arg_lists: Sequence[tuple[Any, ...]]) -> None:
    """Run `target(*args)` in a process of its own for each of `arg_lists`, all forked from this one; wait for them.

    Run this in a freshly spawned process, never in pytest's: a fresh interpreter holds no
    connection, pool or second thread for a fork to duplicate or orphan. The last argument of each
    list is the queue the target reports to; a child flushes it before it exits, and a child that
    ended with an error code (it died) is reported on it, so the test never waits for a lost one.
    """

    def child(args: tuple[Any, ...]) -> None:
        out = args[-1]
        try:
            target(*args)
        finally:
            out.close()
            out.join_thread()  # the queue's feeder thread writes to the pipe: let it finish first

    children = {fork(lambda args=args: child(args)): args[-1] for args in arg_lists}
    failed = []
    for pid, out in children.items():
        code = exit_code(pid)
        if code != 0:
            failed.append(f"forked child {pid} exited with {code}")
            out.put(("error", failed[-1]))
    if failed:
        raise SystemExit("; ".join(failed))


def fetch_token(ready: Any, go: Any, out: Any) -> None:
    """Wait for the start signal with everyone else, then ask the shared cache for a token; report it and our pid."""
    manager = TokenManager()
    ready.release()
    go.wait(30)
    try:
        out.put(("ok", manager.get_token(), os.getpid()))
    except Exception as e:  # reported to the test, which fails on it
        out.put(("error", f"{type(e).__name__}: {e}", os.getpid()))


def hammer_limiter(limit: int, window: float, priority: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
    """Take slots as fast as the limiter allows for `seconds`; report the Redis times of the grants."""
    limiter = RateLimiter(per_minute=limit, daily_budget=100_000, window_seconds=window, namespace="hammer")
    grants: list[tuple[float, str]] = []
    ready.release()
    go.wait(30)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            try:
                grants.append((limiter.acquire(priority, timeout=max(0.0, end - time.monotonic())), priority))
            except RateLimited:
                break
        out.put(("ok", grants))
    except Exception as e:
        out.put(("error", f"{type(e).__name__}: {e}"))

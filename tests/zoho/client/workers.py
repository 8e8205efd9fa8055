"""Entry points for the separate processes the concurrency tests start (spawned: importable, top level).

Each child reads the same environment as the test (settings, Redis db, sandbox URL)
and reports what it got through a queue; none of them patches anything.
"""
from __future__ import annotations

import time
from typing import Any


def fetch_token(ready: Any, go: Any, out: Any) -> None:
    """Wait for the start signal with everyone else, then ask the shared cache for a token."""
    from zoho.oauth import TokenManager

    manager = TokenManager()
    ready.release()
    go.wait(30)
    try:
        out.put(("ok", manager.get_token()))
    except Exception as e:  # reported to the test, which fails on it
        out.put(("error", f"{type(e).__name__}: {e}"))


def hammer_limiter(limit: int, window: float, priority: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
    """Take slots as fast as the limiter allows for `seconds`; report the Redis times of the grants."""
    from zoho.errors import RateLimited
    from zoho.ratelimit import RateLimiter

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

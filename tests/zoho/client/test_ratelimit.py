"""The shared call budget: sliding window, realtime/bulk shares, daily budget, pauses — across processes."""
from __future__ import annotations

import datetime as dt
import multiprocessing
from bisect import bisect_left, bisect_right

import pytest

from tests.zoho.client import workers
from zoho.errors import RateLimited
from zoho.ratelimit import DEFAULT_BULK_SHARE, RateLimiter


def limiter(**kw) -> RateLimiter:
    kw.setdefault("per_minute", 10)
    kw.setdefault("daily_budget", 1000)
    kw.setdefault("namespace", "test")
    kw.setdefault("bulk_share", 0.8)  # round numbers for the window tests; the default is checked below
    return RateLimiter(**kw)


def take(lim: RateLimiter, priority: str, n: int) -> list[float]:
    return [lim.acquire(priority, timeout=0) for _ in range(n)]


def test_the_window_admits_the_limit_then_refuses_until_the_oldest_call_leaves_it(redis_client) -> None:
    lim = limiter(per_minute=5)
    grants = take(lim, "realtime", 5)
    with pytest.raises(RateLimited) as e:
        lim.acquire("realtime", timeout=0)
    # the wait is measured from the oldest grant: it leaves the window 60 s after it was made
    assert 50 < e.value.retry_after <= 60
    status = lim.budget_status()
    assert status["used_last_minute"] == 5 and status["left_this_minute"] == 0
    assert status["used_today"] == 5 and status["used_today_realtime"] == 5
    assert grants == sorted(grants)


def test_bulk_stops_at_its_share_of_the_window_and_realtime_still_gets_the_rest(redis_client) -> None:
    lim = limiter(per_minute=10)  # bulk share 80 %: 8 calls
    take(lim, "bulk", 8)
    with pytest.raises(RateLimited):
        lim.acquire("bulk", timeout=0)
    assert lim.budget_status()["bulk_left_this_minute"] == 0
    take(lim, "realtime", 2)
    with pytest.raises(RateLimited):
        lim.acquire("realtime", timeout=0)
    status = lim.budget_status()
    assert (status["used_today_bulk"], status["used_today_realtime"], status["left_this_minute"]) == (8, 2, 0)


def test_realtime_traffic_squeezes_bulk_out_before_itself(redis_client) -> None:
    lim = limiter(per_minute=10)
    take(lim, "realtime", 8)
    with pytest.raises(RateLimited):
        lim.acquire("bulk", timeout=0)
    take(lim, "realtime", 2)


def test_a_spent_daily_budget_waits_for_the_next_utc_midnight(redis_client) -> None:
    lim = limiter(per_minute=1000, daily_budget=10)  # bulk may spend 85 %: 8 calls
    take(lim, "bulk", 8)
    now = dt.datetime.now(dt.timezone.utc)
    midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    with pytest.raises(RateLimited) as e:
        lim.acquire("bulk", timeout=5)  # no point sleeping: raised at once
    assert abs(e.value.retry_after - (midnight - now).total_seconds()) < 5
    take(lim, "realtime", 2)  # the reserve kept for webhook-driven work
    with pytest.raises(RateLimited) as e:
        lim.acquire("realtime", timeout=0)
    assert abs(e.value.retry_after - (midnight - now).total_seconds()) < 5
    status = lim.budget_status()
    assert (status["used_today"], status["left_today"], status["bulk_left_today"]) == (10, 0, 0)
    assert abs(status["day_resets_in"] - (midnight - now).total_seconds()) < 5


def test_acquire_sleeps_until_a_slot_frees_in_a_sliding_window(redis_client) -> None:
    lim = limiter(per_minute=3, window_seconds=1)
    g = take(lim, "realtime", 3)
    g.append(lim.acquire("realtime", timeout=5))
    g.append(lim.acquire("realtime", timeout=5))
    # each new grant waited for the grant three places earlier to leave the window — a
    # fixed one-second bucket would have let both through at the next bucket boundary
    assert g[3] - g[0] >= 1.0
    assert g[4] - g[1] >= 1.0


def test_a_pause_after_zohos_429_holds_every_priority(redis_client) -> None:
    lim = limiter()
    lim.pause(30)
    for priority in ("realtime", "bulk"):
        with pytest.raises(RateLimited) as e:
            lim.acquire(priority, timeout=0)
        assert 25 < e.value.retry_after <= 30
    lim.pause(5)  # a shorter pause never cuts a longer one short
    assert lim.budget_status()["paused_for"] > 25
    assert lim.budget_status()["used_today"] == 0


def test_limits_come_from_the_settings_when_not_given(redis_client, monkeypatch) -> None:
    from models.settings import reset_settings

    monkeypatch.setenv("ZOHO_RATE_LIMIT_PER_MINUTE", "4")
    monkeypatch.setenv("ZOHO_DAILY_CALL_BUDGET", "50")
    reset_settings()
    try:
        lim = RateLimiter(namespace="settings")
        take(lim, "realtime", 4)
        with pytest.raises(RateLimited):
            lim.acquire("realtime", timeout=0)
        status = lim.budget_status()
        assert (status["limit_per_minute"], status["daily_budget"], status["left_today"]) == (4, 50, 46)
    finally:
        monkeypatch.undo()
        reset_settings()


def test_unknown_priority_is_refused(redis_client) -> None:
    with pytest.raises(ValueError):
        limiter().acquire("urgent", timeout=0)


def test_processes_hammering_the_limiter_never_exceed_the_window(redis_client) -> None:
    limit, window, seconds = 20, 1.0, 2.5  # the window slides at least twice while they hammer
    ctx = multiprocessing.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    priorities = ["realtime", "bulk", "realtime", "bulk"]
    # four processes for one interpreter start: a spawned process forks them (workers.forked)
    forker = ctx.Process(target=workers.forked, args=(
        workers.hammer_limiter, [(limit, window, p, seconds, ready, go, out) for p in priorities]))
    forker.start()
    for _ in priorities:
        assert ready.acquire(timeout=60)
    go.set()
    results = [out.get(timeout=60) for _ in priorities]
    forker.join(10)
    assert forker.exitcode == 0
    assert all(kind == "ok" for kind, _ in results), results
    grants = sorted(g for _, gs in results for g in gs)
    times = [t for t, _ in grants]

    # any `window`-long interval holds at most `limit` grants
    in_window = [bisect_left(times, t + window) - i for i, t in enumerate(times)]
    assert max(in_window) == limit  # the limit was reached (the test bites) and never passed
    # a bulk grant only ever took a slot while fewer than the bulk share of the window was used
    bulk_cap = int(limit * DEFAULT_BULK_SHARE)
    for t, priority in grants:
        if priority == "bulk":
            assert bisect_left(times, t) - bisect_right(times, t - window) < bulk_cap  # grants in (t - window, t)
    assert len(times) >= 2 * limit
    status = RateLimiter(per_minute=limit, window_seconds=window, namespace="hammer").budget_status()
    assert status["used_today"] == len(times)


# -- the same scripts on fakeredis: logic only, no server (the tests above prove it on real Redis) --------

def fake_limiter(**kw) -> RateLimiter:
    import fakeredis

    return limiter(redis_client=fakeredis.FakeRedis(), **kw)


def test_on_fakeredis_bulk_keeps_its_share_and_realtime_gets_the_rest() -> None:
    lim = fake_limiter(per_minute=10)
    take(lim, "bulk", 8)
    with pytest.raises(RateLimited):
        lim.acquire("bulk", timeout=0)
    take(lim, "realtime", 2)
    with pytest.raises(RateLimited) as e:
        lim.acquire("realtime", timeout=0)
    assert 0 < e.value.retry_after <= 60
    assert lim.budget_status()["used_today"] == 10


def test_on_fakeredis_a_pause_holds_every_priority_and_reset_forgets_it() -> None:
    lim = fake_limiter()
    lim.pause(30)
    for priority in ("realtime", "bulk"):
        allowed, wait, reason, _ = lim.try_acquire(priority)
        assert (allowed, reason) == (False, "paused") and 25 < wait <= 30
    lim.reset()
    assert lim.try_acquire("realtime")[0] is True


def test_on_fakeredis_the_daily_budget_is_a_hard_stop() -> None:
    lim = fake_limiter(per_minute=0, daily_budget=3)
    take(lim, "realtime", 3)
    allowed, wait, reason, _ = lim.try_acquire("realtime")
    assert (allowed, reason) == (False, "day") and 0 < wait <= 86400


def test_an_unreachable_store_is_a_transient_error_not_a_crash() -> None:
    import redis

    from zoho.errors import TransientError

    lim = limiter(redis_client=redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2))
    with pytest.raises(TransientError, match="rate limiter unavailable"):
        lim.try_acquire("realtime")

"""The shared Zoho call budget: a sliding 60-second window and a daily budget in Redis, with two priorities.

Zoho counts calls per organisation, not per process, so every web worker, Celery
child and CLI run takes its slot from the same Redis keys. One Lua script decides
atomically, using Redis' own clock (so hosts with skewed clocks still agree):

* the window is a log of grants in a sorted set (score = grant time in µs); a call is
  allowed while fewer than `per_minute` grants lie in the last `window_seconds`. A
  fixed-window counter would let 2× the limit through around a minute boundary.
* the day is a counter per UTC day; at most `daily_budget` calls.
* `bulk` (paged pulls) may only take a slot while the window holds fewer than
  `bulk_share` of the limit and the day fewer than `bulk_daily_share` of the budget;
  `realtime` (the detail GET behind one webhook) may use everything. A big pull
  therefore always leaves headroom for real-time sync, both per minute and per day.
* a pause (`pause(seconds)`) set after Zoho itself answered 429 stops every process
  until Zoho's `Retry-After` has passed, instead of each one finding out by a 429.

`acquire()` sleeps until the computed moment a slot frees (never busy-polls), up to
its timeout, then raises `RateLimited` with the wait it would have needed.
"""
from __future__ import annotations

import datetime as dt
import logging
import random
import time
import uuid
from typing import Any

import redis

from models import coord
from models.settings import get_settings
from zoho.errors import RateLimited, TransientError

log = logging.getLogger(__name__)

KEY_PREFIX = "zohosync:"
PRIORITIES = ("realtime", "bulk")
DEFAULT_BULK_SHARE = 0.95  # 95 of 100 calls/min for pulls, 5 kept for real-time calls
DEFAULT_BULK_DAILY_SHARE = 0.85



def shared_redis(url: str | None = None) -> redis.Redis:
    """The coordination store's client (`REDIS_URL`, see `models.coord`), one per process.

    Never the broker as such: with RabbitMQ as the broker the budget still lives in Redis.
    """
    return coord.client(url)


# KEYS[1] window log (zset), KEYS[2] day counters (hash), KEYS[3] pause marker
# ARGV[1] window limit for everyone, ARGV[2] window cap for this priority, ARGV[3] window (µs)
# ARGV[4] daily budget, ARGV[5] daily cap for this priority, ARGV[6] priority, ARGV[7] unique member
# A limit <= 0 means "no limit". Returns {allowed, wait_µs, reason, now_µs, used_window, used_day}.
_ACQUIRE = """
if redis.replicate_commands then redis.replicate_commands() end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local day = math.floor(tonumber(t[1]) / 86400)
local limit = tonumber(ARGV[1])
local cap = tonumber(ARGV[2])
local window = tonumber(ARGV[3])
local budget = tonumber(ARGV[4])
local day_cap = tonumber(ARGV[5])

local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then
  return {0, paused * 1000, 'paused', now, 0, 0}
end

local used_day = 0
local stored_day = redis.call('HGET', KEYS[2], 'day')
if stored_day and tonumber(stored_day) == day then
  used_day = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
end
if budget > 0 and used_day >= day_cap then
  return {0, (day + 1) * 86400 * 1000000 - now, 'day', now, 0, used_day}
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local used = redis.call('ZCARD', KEYS[1])
if limit > 0 and used >= cap then
  -- the slot frees when the (used - cap)-th oldest grant leaves the window
  local oldest = redis.call('ZRANGE', KEYS[1], used - cap, used - cap, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + window - now
  if wait < 1 then wait = 1 end
  return {0, wait, 'window', now, used, used_day}
end

redis.call('ZADD', KEYS[1], now, ARGV[7])
redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1000)
if not stored_day or tonumber(stored_day) ~= day then
  redis.call('DEL', KEYS[2])
  redis.call('HSET', KEYS[2], 'day', day)
end
redis.call('HINCRBY', KEYS[2], 'total', 1)
redis.call('HINCRBY', KEYS[2], ARGV[6], 1)
redis.call('EXPIRE', KEYS[2], 172800)
return {1, 0, 'ok', now, used + 1, used_day + 1}
"""

# KEYS[1] pause marker; ARGV[1] pause (ms). Only ever lengthens a pause already set.
_PAUSE = """
local ms = tonumber(ARGV[1])
if redis.call('PTTL', KEYS[1]) < ms then
  redis.call('SET', KEYS[1], '1', 'PX', ms)
  return 1
end
return 0
"""

# KEYS[1] window log, KEYS[2] day counters, KEYS[3] pause; ARGV[1] window (µs)
_STATUS = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local day = math.floor(tonumber(t[1]) / 86400)
-- string.format keeps every digit: Lua's own number-to-string conversion rounds to 14
local used = redis.call('ZCOUNT', KEYS[1], string.format('(%.0f', now - tonumber(ARGV[1])), '+inf')
local total, realtime, bulk = 0, 0, 0
local stored_day = redis.call('HGET', KEYS[2], 'day')
if stored_day and tonumber(stored_day) == day then
  total = tonumber(redis.call('HGET', KEYS[2], 'total') or '0')
  realtime = tonumber(redis.call('HGET', KEYS[2], 'realtime') or '0')
  bulk = tonumber(redis.call('HGET', KEYS[2], 'bulk') or '0')
end
local paused = redis.call('PTTL', KEYS[3])
if paused < 0 then paused = 0 end
return {now, used, total, realtime, bulk, paused}
"""


class RateLimiter:
    """Per-organisation call budget shared through Redis by every process.

    Limits not given to the constructor are read from the settings at each call
    (`ZOHO_RATE_LIMIT_PER_MINUTE`, `ZOHO_DAILY_CALL_BUDGET`), so a settings reset
    takes effect without rebuilding clients. `window_seconds` exists so tests can run
    the same code path over a short window.
    """

    def __init__(
        self,
        redis_client: redis.Redis | None = None,
        *,
        per_minute: int | None = None,
        daily_budget: int | None = None,
        window_seconds: float = 60.0,
        bulk_share: float = DEFAULT_BULK_SHARE,
        bulk_daily_share: float = DEFAULT_BULK_DAILY_SHARE,
        namespace: str | None = None,
    ) -> None:
        if not 0 < bulk_share <= 1 or not 0 < bulk_daily_share <= 1:
            raise ValueError("bulk shares must lie in (0, 1]")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self._redis = redis_client
        self._per_minute = per_minute
        self._daily_budget = daily_budget
        self.window_seconds = float(window_seconds)
        self.bulk_share = bulk_share
        self.bulk_daily_share = bulk_daily_share
        # One namespace per Zoho organisation: Zoho's limits are per organisation.
        self._namespace = namespace
        self._acquire_script = None
        self._pause_script = None
        self._status_script = None

    # ------------------------------------------------------------------ configuration

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = shared_redis()
        return self._redis

    @property
    def per_minute(self) -> int:
        return self._per_minute if self._per_minute is not None else get_settings().zoho_rate_limit_per_minute

    @property
    def daily_budget(self) -> int:
        return self._daily_budget if self._daily_budget is not None else get_settings().zoho_daily_call_budget

    @property
    def namespace(self) -> str:
        return self._namespace or (get_settings().zoho_organization_id or "default")

    def _keys(self) -> list[str]:
        # One hash tag per organisation: the script's three keys share a Redis Cluster slot.
        resource = f"ratelimit:{self.namespace}"
        return [coord.key(resource, "window"), coord.key(resource, "day"), coord.key(resource, "pause")]

    def caps(self, priority: str) -> tuple[int, int]:
        """(window cap, daily cap) for a priority: bulk gets a share, realtime everything."""
        if priority not in PRIORITIES:
            raise ValueError(f"priority must be one of {PRIORITIES}, got {priority!r}")
        limit, budget = self.per_minute, self.daily_budget
        if priority == "realtime":
            return limit, budget
        window_cap = max(1, int(limit * self.bulk_share)) if limit > 0 else limit
        day_cap = max(1, int(budget * self.bulk_daily_share)) if budget > 0 else budget
        return window_cap, day_cap

    def _script(self, name: str, source: str):
        script = getattr(self, name)
        if script is None:
            script = self.redis.register_script(source)
            setattr(self, name, script)
        return script

    # ------------------------------------------------------------------ the budget

    def try_acquire(self, priority: str = "realtime") -> tuple[bool, float, str, float]:
        """One atomic attempt: (allowed, seconds to wait, reason, Redis time of the decision)."""
        window_cap, day_cap = self.caps(priority)
        args = [self.per_minute, window_cap, int(self.window_seconds * 1_000_000),
                self.daily_budget, day_cap, priority, uuid.uuid4().hex]
        try:
            allowed, wait_us, reason, now_us, _, _ = self._script("_acquire_script", _ACQUIRE)(
                keys=self._keys(), args=args)
        except coord.ERRORS as e:
            raise TransientError(f"rate limiter unavailable: {type(e).__name__}") from e
        reason = reason.decode() if isinstance(reason, bytes) else str(reason)
        return bool(allowed), int(wait_us) / 1_000_000, reason, int(now_us) / 1_000_000

    def acquire(self, priority: str = "realtime", timeout: float = 30.0) -> float:
        """Take one call slot, sleeping until one frees; returns the grant time (Redis clock, epoch s).

        Raises `RateLimited(retry_after=…)` when no slot frees within `timeout`
        (immediately when the wait is known to be longer: a spent daily budget waits
        for the next UTC midnight).
        """
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            allowed, wait, reason, granted_at = self.try_acquire(priority)
            if allowed:
                return granted_at
            remaining = deadline - time.monotonic()
            if wait > remaining:
                log.info("zoho call budget exhausted",
                         extra={"zoho_priority": priority, "zoho_limit_reason": reason, "retry_after": round(wait, 3)})
                raise RateLimited(f"Zoho call budget exhausted ({reason}, {priority}); retry in {wait:.1f}s",
                                  retry_after=wait)
            # A little jitter so processes woken for the same freed slot do not collide in lockstep.
            time.sleep(min(remaining, wait + random.uniform(0, 0.02)))

    def pause(self, seconds: float) -> None:
        """Stop every process from calling Zoho for `seconds` (Zoho answered 429 with Retry-After)."""
        if seconds <= 0:
            return
        try:
            self._script("_pause_script", _PAUSE)(keys=[self._keys()[2]], args=[int(seconds * 1000)])
        except redis.RedisError as e:
            log.warning("cannot record Zoho's pause", extra={"error_type": type(e).__name__})

    def reset(self) -> None:
        """Forget the window, the day counters and any pause (operators and tests)."""
        self.redis.delete(*self._keys())

    def budget_status(self) -> dict[str, Any]:
        """What the dashboard shows: calls in the current window and today, what is left of each."""
        now_us, used, total, realtime, bulk, paused_ms = (
            int(x) for x in self._script("_status_script", _STATUS)(
                keys=self._keys(), args=[int(self.window_seconds * 1_000_000)]))
        limit, budget = self.per_minute, self.daily_budget
        bulk_cap, bulk_day_cap = self.caps("bulk")
        now = dt.datetime.fromtimestamp(now_us / 1_000_000, dt.timezone.utc)
        midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return {
            "limit_per_minute": limit,
            "window_seconds": self.window_seconds,
            "used_last_minute": used,
            "left_this_minute": max(0, limit - used) if limit > 0 else None,
            "bulk_left_this_minute": max(0, bulk_cap - used) if limit > 0 else None,
            "daily_budget": budget,
            "used_today": total,
            "used_today_realtime": realtime,
            "used_today_bulk": bulk,
            "left_today": max(0, budget - total) if budget > 0 else None,
            "bulk_left_today": max(0, bulk_day_cap - total) if budget > 0 else None,
            "day_resets_in": int((midnight - now).total_seconds()),
            "paused_for": paused_ms / 1000,
        }

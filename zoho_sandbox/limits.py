"""Zoho's gatekeepers, reproduced: OAuth access tokens and the per-minute / per-day API call limits.

Both are the behaviours a client most often gets wrong, so they follow Zoho's
documented numbers: at most 10 token refreshes per 10 minutes per refresh token, at
most 10 live access tokens (the oldest is invalidated), tokens that expire, 100 calls
per minute per organisation in any sliding 60-second window, and a daily budget.
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from zoho_sandbox.generator import ORG_TZ

REFRESH_WINDOW_SECONDS = 600
MAX_REFRESHES_PER_WINDOW = 10
MAX_LIVE_TOKENS = 10
SCOPE = "ZohoBooks.fullaccess.all,ZohoInventory.fullaccess.all"


class TokenIssuer:
    """The accounts server for one self client: refresh-token grant only."""

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        refresh_token: str,
        ttl: int = 3600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.refresh_token = refresh_token
        self.ttl = int(ttl)
        self._clock = clock
        self._lock = threading.Lock()
        self._tokens: OrderedDict[str, float] = OrderedDict()  # token → expiry (monotonic), oldest first
        self._recent: deque[float] = deque()
        self.refreshes = 0
        self.denied = 0

    def grant(self, params: Mapping[str, str]) -> tuple[int, dict]:
        """Answer `POST /oauth/v2/token`: (HTTP status, JSON body)."""
        if params.get("grant_type") != "refresh_token":
            return 400, {"error": "unsupported_grant_type"}
        if (
            params.get("client_id") != self.client_id
            or params.get("client_secret") != self.client_secret
            or params.get("refresh_token") != self.refresh_token
        ):
            return 400, {"error": "invalid_code"}
        with self._lock:
            now = self._clock()
            while self._recent and self._recent[0] <= now - REFRESH_WINDOW_SECONDS:
                self._recent.popleft()
            if len(self._recent) >= MAX_REFRESHES_PER_WINDOW:
                self.denied += 1
                return 400, {
                    "error": "Access Denied",
                    "error_description": (
                        "You have made too many requests continuously. Please try again after some time."
                    ),
                }
            self._recent.append(now)
            self.refreshes += 1
            token = f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}"
            self._tokens[token] = now + self.ttl
            while len(self._tokens) > MAX_LIVE_TOKENS:
                self._tokens.popitem(last=False)
            return 200, {"access_token": token, "expires_in": self.ttl, "token_type": "Bearer", "scope": SCOPE}

    def valid(self, token: str) -> bool:
        with self._lock:
            expiry = self._tokens.get(token)
            if expiry is None:
                return False
            if expiry <= self._clock():
                del self._tokens[token]
                return False
            return True

    def live_tokens(self) -> int:
        with self._lock:
            now = self._clock()
            return sum(1 for expiry in self._tokens.values() if expiry > now)

    def expire_all(self) -> int:
        """Invalidate every issued token now (a test's way to simulate expiry without waiting)."""
        with self._lock:
            n = len(self._tokens)
            self._tokens.clear()
            return n

    def reset(self, drop_tokens: bool = False) -> None:
        """Zero the counters and the refresh window; tokens survive unless asked, like a real account."""
        with self._lock:
            self._recent.clear()
            self.refreshes = 0
            self.denied = 0
            if drop_tokens:
                self._tokens.clear()


@dataclass
class Decision:
    """The limiter's verdict on one API call, with the headers Zoho would attach."""

    allowed: bool
    status: int = 200
    body: dict | None = None
    headers: dict[str, str] = field(default_factory=dict)


class ApiLimiter:
    """Sliding 60-second window and calendar-day budget, per organisation.

    Refused calls do not consume quota. `X-Rate-Limit-*` headers describe the daily
    budget as Zoho's do (`Reset` = seconds until the day rolls over);
    `X-Rate-Limit-Minute-*` describe the per-minute window.
    """

    def __init__(
        self,
        per_minute: int = 100,
        daily: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = int(per_minute)
        self.daily = int(daily)
        self._clock = clock
        self._wall = wall
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = {}
        self._days: dict[str, tuple[str, int]] = {}
        self.limited = 0
        self.daily_limited = 0

    def _seconds_to_midnight(self) -> int:
        now = dt.datetime.fromtimestamp(self._wall(), ORG_TZ)
        midnight = (now + dt.timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        return max(1, math.ceil((midnight - now).total_seconds()))

    def acquire(self, org_id: str) -> Decision:
        with self._lock:
            now = self._clock()
            today = dt.datetime.fromtimestamp(self._wall(), ORG_TZ).strftime("%Y-%m-%d")
            day, used_today = self._days.get(org_id, (today, 0))
            if day != today:
                used_today = 0
            window = self._windows.setdefault(org_id, deque())
            while window and window[0] <= now - 60:
                window.popleft()
            reset = self._seconds_to_midnight()
            headers = {
                "X-Rate-Limit-Limit": str(self.daily),
                "X-Rate-Limit-Reset": str(reset),
                "X-Rate-Limit-Minute-Limit": str(self.per_minute),
            }
            if self.daily > 0 and used_today >= self.daily:
                self.daily_limited += 1
                headers.update(
                    {
                        "X-Rate-Limit-Remaining": "0",
                        "Retry-After": str(reset),
                        "X-Rate-Limit-Minute-Remaining": str(max(0, self.per_minute - len(window))),
                    }
                )
                return Decision(
                    False,
                    429,
                    {"code": 45, "message": "You have reached the maximum number of API calls for the day."},
                    headers,
                )
            if self.per_minute > 0 and len(window) >= self.per_minute:
                self.limited += 1
                retry_after = max(1, math.ceil(window[0] + 60 - now))
                headers.update(
                    {
                        "X-Rate-Limit-Remaining": str(max(0, self.daily - used_today)),
                        "X-Rate-Limit-Minute-Remaining": "0",
                        "Retry-After": str(retry_after),
                    }
                )
                return Decision(
                    False,
                    429,
                    {
                        "code": 45,
                        "message": f"You have made too many requests. The API call limit of {self.per_minute} "
                        "calls per minute for this organization has been exceeded. Please try again after some time.",
                    },
                    headers,
                )
            window.append(now)
            self._days[org_id] = (today, used_today + 1)
            headers.update(
                {
                    "X-Rate-Limit-Remaining": str(max(0, self.daily - used_today - 1)),
                    "X-Rate-Limit-Minute-Remaining": str(max(0, self.per_minute - len(window))),
                }
            )
            return Decision(True, 200, None, headers)

    def used_today(self, org_id: str) -> int:
        with self._lock:
            return self._days.get(org_id, ("", 0))[1]

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            self._days.clear()
            self.limited = 0
            self.daily_limited = 0

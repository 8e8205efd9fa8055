"""Zoho OAuth access tokens: minted from the refresh token, cached in Redis, refreshed by one process at a time.

Zoho allows about ten token refreshes per ten minutes per refresh token; a fleet of
Celery children that each refreshed on start-up or after a 401 would lock the
account out. So the access token lives in Redis (keyed by a hash of client id and
refresh token, never the secret itself) and is shared by every process; when it
nears expiry exactly one process takes a Redis lock and refreshes while the others
keep using the still-valid token or, when there is none, wait for the new one.

A refusal of the credentials is an `AuthError` and is remembered for a minute, so
that twenty waiting workers do not each try the same dead refresh token; Zoho's
"too many requests" answer is a `RateLimited`, remembered for its back-off.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
import time
import uuid
from collections import deque
from typing import Any

import redis
import requests

from models import coord
from models.settings import get_settings
from zoho.errors import AuthError, RateLimited, TransientError
from zoho.ratelimit import shared_redis

log = logging.getLogger(__name__)

REFRESH_MARGIN_SECONDS = 300
AUTH_FAILURE_MEMORY_SECONDS = 60
ACCESS_DENIED_BACKOFF_SECONDS = 60
REFRESH_TIMEOUT = (5, 20)  # connect, read: below the lock's TTL so a stuck refresh cannot outlive it
#: `error` values of the token endpoint meaning "these credentials will not work": never retried.
CREDENTIAL_ERRORS = {"invalid_code", "invalid_client", "invalid_client_secret", "invalid_grant",
                     "unauthorized_client", "invalid_refresh_token", "unsupported_grant_type"}

# Recently minted access tokens of this process, so error texts can be scrubbed of them.
_seen_tokens: deque[str] = deque(maxlen=16)
_seen_lock = threading.Lock()


def _remember(token: str) -> None:
    with _seen_lock:
        if token not in _seen_tokens:
            _seen_tokens.append(token)


def scrub(text: str) -> str:
    """`text` with every configured secret and known access token replaced by `***`.

    Messages we build never include secrets; this is the second line of defence for
    text that comes from elsewhere (a Zoho error message, an exception's str()).
    """
    s = get_settings()
    with _seen_lock:
        secrets = [t for t in _seen_tokens]
    secrets += [v for v in (s.zoho_client_secret, s.zoho_refresh_token) if v]
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= 6:
            text = text.replace(secret, "***")
    return text


def _safe_word(value: Any, limit: int = 60) -> str:
    """A short printable rendering of an error word from Zoho (no control characters, bounded)."""
    return scrub(re.sub(r"[^\w .:-]", "", str(value))[:limit])


# KEYS[1] lock; ARGV[1] owner token. Deletes the lock only if we still own it.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""

# KEYS[1] token hash, KEYS[2] forced-refresh marker; ARGV[1] the token that failed, ARGV[2] guard (ms).
# 1: dropped (the next get_token refreshes); 0: already replaced by someone else;
# -1: refused, a forced refresh happened moments ago (a fresh token is rejected too: scope, not age).
_INVALIDATE = """
if redis.call('HGET', KEYS[1], 'access_token') ~= ARGV[1] then
  return 0
end
if tonumber(ARGV[2]) > 0 then
  if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[2]) then
    return -1
  end
end
redis.call('DEL', KEYS[1])
return 1
"""


class TokenManager:
    """The one way to get a Zoho access token; shared state lives in Redis, so instances are cheap."""

    def __init__(
        self,
        redis_client: redis.Redis | None = None,
        *,
        session: requests.Session | None = None,
        margin: float = REFRESH_MARGIN_SECONDS,
        lock_ttl: float = 30.0,
        wait_timeout: float = 35.0,
        poll_interval: float = 0.05,
        forced_refresh_interval: float = 60.0,
    ) -> None:
        self._redis = redis_client
        self._session = session
        self.margin = margin
        self.lock_ttl = lock_ttl
        self.wait_timeout = wait_timeout
        self.poll_interval = poll_interval
        self.forced_refresh_interval = forced_refresh_interval
        self.refreshes = 0  # refreshes this instance performed (not fleet-wide)
        self._scripts: dict[str, Any] = {}

    # ------------------------------------------------------------------ plumbing

    @property
    def redis(self) -> redis.Redis:
        if self._redis is None:
            self._redis = shared_redis()
        return self._redis

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = requests.Session()
        return self._session

    def _script(self, name: str, source: str):
        if name not in self._scripts:
            self._scripts[name] = self.redis.register_script(source)
        return self._scripts[name]

    @staticmethod
    def _credentials() -> tuple[str, str, str]:
        s = get_settings()
        if not (s.zoho_client_id and s.zoho_client_secret and s.zoho_refresh_token):
            raise AuthError("Zoho OAuth credentials are not configured (ZOHO_CLIENT_ID, ZOHO_CLIENT_SECRET, ZOHO_REFRESH_TOKEN)")
        return s.zoho_client_id, s.zoho_client_secret, s.zoho_refresh_token

    @classmethod
    def client_key(cls) -> str:
        """sha256 of client id and refresh token: names the cache and the `zoho_tokens` row, reveals neither."""
        client_id, _, refresh_token = cls._credentials()
        return hashlib.sha256(f"{client_id}\x00{refresh_token}".encode()).hexdigest()

    def _keys(self) -> dict[str, str]:
        # One hash tag per credential: every script's keys share a Redis Cluster slot.
        resource = f"oauth:{self.client_key()[:32]}"
        return {name: coord.key(resource, name) for name in ("token", "lock", "failure", "forced")}

    def _read(self, keys: dict[str, str]) -> dict[str, Any] | None:
        raw = self.redis.hgetall(keys["token"])
        if not raw or b"access_token" not in raw:
            return None
        data = {k.decode(): v.decode() for k, v in raw.items()}
        for name in ("expires_at", "refreshed_at"):
            data[name] = float(data.get(name) or 0)
        return data

    def _effective_margin(self, cached: dict[str, Any]) -> float:
        # A short-lived token (a sandbox with --token-ttl 60) would be stale from birth
        # with a fixed 5-minute margin and refreshed on every call: cap at a quarter of its life.
        lifetime = max(0.0, cached["expires_at"] - cached["refreshed_at"])
        return min(self.margin, lifetime / 4)

    def _fresh(self, cached: dict[str, Any] | None, now: float) -> bool:
        return cached is not None and cached["expires_at"] - now > self._effective_margin(cached)

    # ------------------------------------------------------------------ public API

    def get_token(self) -> str:
        """A valid access token, refreshing it (once, fleet-wide) when it is missing or near expiry."""
        try:
            return self._get_token()
        except redis.RedisError as e:
            raise TransientError(f"token cache unavailable: {type(e).__name__}") from e

    def _get_token(self) -> str:
        keys = self._keys()
        deadline = time.monotonic() + self.wait_timeout
        while True:
            now = time.time()
            cached = self._read(keys)
            if self._fresh(cached, now):
                return cached["access_token"]
            try:
                self._raise_remembered_failure(keys)
            except (AuthError, RateLimited):
                if cached is not None and cached["expires_at"] > now + 1:
                    return cached["access_token"]  # near expiry but still accepted: use it while refreshes are refused
                raise
            owner = uuid.uuid4().hex
            if self.redis.set(keys["lock"], owner, nx=True, px=int(self.lock_ttl * 1000)):
                try:
                    cached = self._read(keys)  # someone may have refreshed between our read and the lock
                    if self._fresh(cached, time.time()):
                        return cached["access_token"]
                    return self._refresh(keys)
                finally:
                    self._script("release", _RELEASE)(keys=[keys["lock"]], args=[owner])
            # Another process is refreshing. A token inside the margin still works meanwhile.
            if cached is not None and cached["expires_at"] > now + 1:
                return cached["access_token"]
            if time.monotonic() >= deadline:
                raise TransientError("timed out waiting for another process to refresh the Zoho access token")
            time.sleep(self.poll_interval)

    def invalidate(self, token: str) -> bool:
        """Drop `token` after Zoho answered 401 with it, so the next `get_token` refreshes once.

        Returns False when the caller should not retry: a token minted by a forced
        refresh moments ago was rejected as well, which points at scope or a revoked
        grant rather than an expired token (retrying would only burn refreshes).
        A token already replaced by another process is not touched (True: retry with the new one).
        """
        keys = self._keys()
        try:
            result = self._script("invalidate", _INVALIDATE)(
                keys=[keys["token"], keys["forced"]], args=[token, int(self.forced_refresh_interval * 1000)])
        except redis.RedisError as e:
            raise TransientError(f"token cache unavailable: {type(e).__name__}") from e
        if int(result) == 1:
            log.info("zoho access token invalidated after 401", extra={"zoho_client_key": self.client_key()[:12]})
        return int(result) >= 0

    def token_status(self) -> dict[str, Any]:
        """Expiry of the shared token for the dashboard (never the token itself)."""
        try:
            keys = self._keys()
        except AuthError:
            return {"configured": False, "cached": False, "expires_at": None, "seconds_left": None}
        status: dict[str, Any] = {"configured": True, "cached": False, "expires_at": None, "seconds_left": None,
                                  "refreshed_at": None, "stale": True, "api_domain": None, "blocked": None}
        try:
            cached = self._read(keys)
            failure = self.redis.get(keys["failure"])
        except redis.RedisError as e:
            status["error"] = f"token cache unavailable: {type(e).__name__}"
            return status
        if failure:
            status["blocked"] = failure.decode().split(":", 1)[0]
        if cached is not None:
            now = time.time()
            status.update(
                cached=True,
                expires_at=dt.datetime.fromtimestamp(cached["expires_at"], dt.timezone.utc).isoformat(),
                seconds_left=max(0, int(cached["expires_at"] - now)),
                refreshed_at=dt.datetime.fromtimestamp(cached["refreshed_at"], dt.timezone.utc).isoformat(),
                stale=not self._fresh(cached, now),
                api_domain=cached.get("api_domain") or None,
            )
        return status

    # ------------------------------------------------------------------ the refresh itself

    def _raise_remembered_failure(self, keys: dict[str, str]) -> None:
        raw = self.redis.get(keys["failure"])
        if not raw:
            return
        kind, _, detail = raw.decode().partition(":")
        if kind == "ratelimited":
            wait = max(1.0, float(self.redis.pttl(keys["failure"])) / 1000)
            raise RateLimited("Zoho refused a token refresh: too many refreshes; waiting it out", retry_after=wait)
        raise AuthError(f"Zoho refused the OAuth credentials ({detail or 'unknown'}); fix them, nothing will retry")

    def _remember_failure(self, keys: dict[str, str], kind: str, detail: str, seconds: float) -> None:
        try:
            self.redis.set(keys["failure"], f"{kind}:{detail}", px=max(1, int(seconds * 1000)))
        except redis.RedisError:
            pass

    def _refresh(self, keys: dict[str, str]) -> str:
        """POST the refresh-token grant; store the new token in Redis and (best effort) the database."""
        client_id, client_secret, refresh_token = self._credentials()
        url = f"{get_settings().zoho_accounts_url}/oauth/v2/token"
        form = {"grant_type": "refresh_token", "client_id": client_id, "client_secret": client_secret,
                "refresh_token": refresh_token}
        started = time.monotonic()
        try:
            # A form body, not query parameters: a URL can end up in a log line or an exception.
            response = self.session.post(url, data=form, timeout=REFRESH_TIMEOUT)
        except requests.RequestException as e:
            raise TransientError(f"Zoho accounts server unreachable ({type(e).__name__})") from None
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status >= 500:
            raise TransientError(f"Zoho accounts server answered HTTP {status}")
        if status == 429:
            self._remember_failure(keys, "ratelimited", "http 429", ACCESS_DENIED_BACKOFF_SECONDS)
            raise RateLimited("Zoho refused a token refresh: HTTP 429", retry_after=ACCESS_DENIED_BACKOFF_SECONDS)
        if not isinstance(body, dict):
            if 400 <= status < 500:
                self._remember_failure(keys, "auth", f"http {status}", AUTH_FAILURE_MEMORY_SECONDS)
                raise AuthError(f"Zoho accounts server refused the token refresh: HTTP {status}")
            raise TransientError(f"Zoho accounts server answered HTTP {status} without JSON")
        # Zoho answers a bad refresh token with HTTP 200 and {"error": ...}: read the body, not the status.
        error = body.get("error")
        if error:
            word = _safe_word(error)
            description = str(body.get("error_description") or "")
            if word.lower() == "access denied" or "too many requests" in description.lower():
                self._remember_failure(keys, "ratelimited", word, ACCESS_DENIED_BACKOFF_SECONDS)
                log.warning("zoho refused a token refresh: too many refreshes",
                            extra={"zoho_oauth_error": word, "retry_after": ACCESS_DENIED_BACKOFF_SECONDS})
                raise RateLimited(f"Zoho refused a token refresh ({word}): too many refreshes",
                                  retry_after=ACCESS_DENIED_BACKOFF_SECONDS)
            self._remember_failure(keys, "auth", word, AUTH_FAILURE_MEMORY_SECONDS)
            log.error("zoho refused the oauth credentials", extra={"zoho_oauth_error": word})
            raise AuthError(f"Zoho refused the OAuth credentials ({word})")
        token = body.get("access_token")
        if not token or not isinstance(token, str):
            raise TransientError("Zoho token answer carried no access_token")
        expires_in = self._expires_in(body)
        now = time.time()
        _remember(token)
        api_domain = str(body.get("api_domain") or "")
        with self.redis.pipeline() as pipe:
            pipe.delete(keys["token"])
            pipe.hset(keys["token"], mapping={"access_token": token, "api_domain": api_domain,
                                              "expires_at": repr(now + expires_in), "refreshed_at": repr(now)})
            pipe.pexpire(keys["token"], int(expires_in * 1000))
            pipe.execute()
        self.refreshes += 1
        log.info("zoho access token refreshed",
                 extra={"zoho_client_key": self.client_key()[:12], "expires_in": expires_in,
                        "elapsed_ms": int((time.monotonic() - started) * 1000)})
        self._record_in_database(token, api_domain, now, expires_in)
        return token

    @staticmethod
    def _expires_in(body: dict[str, Any]) -> float:
        # Older Zoho accounts servers sent `expires_in` in milliseconds next to `expires_in_sec`.
        for name in ("expires_in_sec", "expires_in"):
            try:
                value = float(body.get(name))
            except (TypeError, ValueError):
                continue
            if value > 0:
                return value / 1000 if value > 86_400 else value
        return 3600.0

    def _record_in_database(self, token: str, api_domain: str, now: float, expires_in: float) -> None:
        """Upsert `zoho_tokens` for operators and the dashboard; a database failure must not stop API calls."""
        try:
            from sqlalchemy.dialects.postgresql import insert

            from models.db import session_scope
            from models.queue import ZohoToken

            refreshed = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            values = {"client_key": self.client_key(), "access_token": token, "api_domain": api_domain or None,
                      "expires_at": refreshed + dt.timedelta(seconds=expires_in), "refreshed_at": refreshed}
            stmt = insert(ZohoToken).values(**values, refresh_count=1)
            stmt = stmt.on_conflict_do_update(
                index_elements=[ZohoToken.client_key],
                set_={"access_token": stmt.excluded.access_token, "api_domain": stmt.excluded.api_domain,
                      "expires_at": stmt.excluded.expires_at, "refreshed_at": stmt.excluded.refreshed_at,
                      "refresh_count": ZohoToken.refresh_count + 1},
            )
            with session_scope() as session:
                session.execute(stmt)
        except Exception as e:  # noqa: BLE001 - best effort by contract; str(e) may quote the token, so only the type
            log.warning("could not record the zoho token in zoho_tokens", extra={"error_type": type(e).__name__})

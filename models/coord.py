"""The coordination store: the one Redis every process shares for limits, locks, caches, canaries and counters.

It is configured apart from the Celery broker (`REDIS_URL`), so the broker can be RabbitMQ
while rate limits, OAuth tokens and locks still live in one shared place. When
`REDIS_URL` is unset the broker's URL is used if the broker is Redis; with any other
broker `REDIS_URL` is required (`CoordinationNotConfigured` says so).

URL forms (`parse_url`):

- `redis://[[user]:password@]host:port/db`, `rediss://…` (TLS), `unix:///path?db=N`;
- `sentinel://[[user]:password@]host:port[,host:port…]/db?master_name=NAME` — redis-py's
  public `Sentinel` finds the current master (kombu's `sentinel://h1;sentinel://h2` list
  spelling is accepted too); `sentinel_password=` when the sentinels need their own;
- `redis+cluster://host:port[,host:port…]` or `redis://host:port?cluster=true` — redis-py's
  `RedisCluster` (database 0 only; `rediss+cluster://` for TLS).

Redis Cluster refuses a script or transaction whose keys hash to different slots
(CROSSSLOT). Every key here is built by `key()`, which puts the resource that one script
touches between braces (a hash tag): `zohosync:ratelimit:{org}:window` and
`zohosync:ratelimit:{org}:day` share the slot of `org`. Keys of different resources may
live on different nodes; no script ever spans two resources.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.sentinel import Sentinel

from models.settings import get_settings

PREFIX = "zohosync"
REDIS_SCHEMES = ("redis", "rediss", "unix")
SENTINEL_SCHEMES = ("sentinel", "sentinels", "redis+sentinel", "rediss+sentinel")
CLUSTER_SCHEMES = ("redis+cluster", "rediss+cluster", "cluster")
TRUE = {"1", "true", "yes", "on"}


class CoordinationNotConfigured(RuntimeError):
    """No coordination store: the broker is not Redis and `REDIS_URL` is unset (or malformed)."""


def key(resource: str, *parts: str) -> str:
    """`zohosync:<…>:{<resource's last part>}:<parts>`: every key of one resource in one cluster slot.

    `key("ratelimit:org1", "window")` → `zohosync:ratelimit:{org1}:window`. The hash tag is the
    resource's last segment, so what varies per resource spreads over the cluster while one
    resource's keys (one script's keys) always share a slot.
    """
    head, _, tag = resource.rpartition(":")
    name = f"{PREFIX}:{head + ':' if head else ''}{{{tag}}}"
    return ":".join((name, *parts)) if parts else name


def hash_slot(name: str | bytes) -> int:
    """The cluster slot of a key (CRC16 of its hash tag, as every Redis Cluster computes it)."""
    from redis.crc import key_slot

    return key_slot(name.encode() if isinstance(name, str) else name)


@dataclass(frozen=True)
class StoreSpec:
    """A parsed coordination URL: what kind of deployment, and how to reach it."""

    kind: str  # redis | sentinel | cluster
    url: str = field(repr=False)
    hosts: tuple[tuple[str, int], ...] = ()
    db: int = 0
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    ssl: bool = False
    master_name: str | None = None
    sentinel_password: str | None = field(default=None, repr=False)


def _hosts(netloc: str, default_port: int) -> tuple[tuple[str, int], ...]:
    out = []
    for part in (p.strip() for p in netloc.split(",")):
        if not part:
            continue
        host, port = part, default_port
        if part.startswith("["):  # [ipv6]:port
            host, _, rest = part[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else default_port
        elif ":" in part:
            host, _, raw = part.rpartition(":")
            port = int(raw)
        out.append((host, port))
    return tuple(out)


def _split_credentials(netloc: str) -> tuple[str | None, str | None, str]:
    if "@" not in netloc:
        return None, None, netloc
    creds, _, hosts = netloc.rpartition("@")
    user, sep, password = creds.partition(":")
    return (unquote(user) or None), (unquote(password) if sep else None), hosts


def _db(path: str, query: dict[str, list[str]]) -> int:
    raw = path.strip("/") or (query.get("db") or ["0"])[0]
    try:
        return int(raw)
    except ValueError as e:
        raise CoordinationNotConfigured(f"coordination store URL: database must be a number, got {raw!r}") from e


def parse_url(url: str) -> StoreSpec:
    """The deployment a URL names (see the module docstring); raises `CoordinationNotConfigured` on nonsense."""
    if not url or "://" not in url:
        raise CoordinationNotConfigured("coordination store URL must look like redis://host:port/db")
    if ";" in url:  # kombu's spelling of several sentinels: sentinel://h1:26379;sentinel://h2:26379/0?...
        pieces = [p.strip() for p in url.split(";") if p.strip()]
        last = urlsplit(pieces[-1])
        netlocs = [urlsplit(p).netloc for p in pieces]
        url = f"{last.scheme}://{','.join(netlocs)}{last.path}" + (f"?{last.query}" if last.query else "")
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    query = parse_qs(parts.query)
    flag = (lambda name: (query.get(name) or [""])[0].lower() in TRUE)
    user, password, netloc = _split_credentials(parts.netloc)
    if scheme in SENTINEL_SCHEMES:
        master = (query.get("master_name") or query.get("service_name") or [None])[0]
        if not master:
            raise CoordinationNotConfigured("a sentinel:// coordination URL needs ?master_name=<the monitored master>")
        hosts = _hosts(netloc, 26379)
        if not hosts:
            raise CoordinationNotConfigured("a sentinel:// coordination URL needs at least one host:port")
        return StoreSpec("sentinel", url, hosts, _db(parts.path, query), user, password,
                         scheme.startswith("rediss") or scheme == "sentinels" or flag("ssl"), master,
                         (query.get("sentinel_password") or [None])[0])
    if scheme in CLUSTER_SCHEMES or (scheme in ("redis", "rediss") and flag("cluster")):
        hosts = _hosts(netloc, 6379)
        if not hosts:
            raise CoordinationNotConfigured("a cluster coordination URL needs at least one host:port")
        if _db(parts.path, query) != 0:
            raise CoordinationNotConfigured("Redis Cluster has only database 0")
        return StoreSpec("cluster", url, hosts, 0, user, password, scheme.startswith("rediss") or flag("ssl"))
    if scheme in REDIS_SCHEMES:
        return StoreSpec("redis", url, _hosts(netloc, 6379) if netloc else (), _db(parts.path, query)
                         if scheme != "unix" else int((query.get("db") or ["0"])[0]), user, password,
                         scheme == "rediss")
    raise CoordinationNotConfigured(
        f"coordination store URL scheme {scheme!r} is not one of redis, rediss, unix, sentinel, redis+cluster")


def is_redis_url(url: str | None) -> bool:
    """True when `url` names a Redis deployment (plain, TLS, socket, Sentinel or Cluster)."""
    if not url:
        return False
    try:
        parse_url(url)
    except CoordinationNotConfigured:
        return False
    return True


def store_url() -> str:
    """`REDIS_URL`, else the broker's URL when the broker is Redis; raises when neither names a Redis."""
    settings = get_settings()
    url = settings.redis_url or (settings.broker_url if is_redis_url(settings.broker_url) else None)
    if not url:
        raise CoordinationNotConfigured(
            "REDIS_URL is required when the Celery broker is not Redis (it holds the rate limiter, the OAuth "
            "token cache, locks and counters shared by every process)")
    return url


def build_client(spec: StoreSpec, *, socket_connect_timeout: float = 3, socket_timeout: float = 5,
                 **extra: Any) -> redis.Redis | RedisCluster:
    """A client for `spec` through redis-py's public constructors (Redis.from_url, Sentinel, RedisCluster)."""
    timeouts = {"socket_connect_timeout": socket_connect_timeout, "socket_timeout": socket_timeout, **extra}
    if spec.kind == "sentinel":
        auth = {k: v for k, v in (("username", spec.username), ("password", spec.password)) if v}
        sentinel_auth = {"password": spec.sentinel_password} if spec.sentinel_password else {}
        sentinel = Sentinel(list(spec.hosts), sentinel_kwargs={"socket_connect_timeout": socket_connect_timeout,
                                                               "socket_timeout": socket_timeout, **sentinel_auth},
                            ssl=spec.ssl, **auth, **timeouts)
        return sentinel.master_for(spec.master_name, db=spec.db)
    if spec.kind == "cluster":
        extra_cluster = {k: v for k, v in (("username", spec.username), ("password", spec.password)) if v}
        timeouts.pop("health_check_interval", None)
        return RedisCluster(startup_nodes=[ClusterNode(h, p) for h, p in spec.hosts], ssl=spec.ssl,
                            **extra_cluster, **timeouts)
    return redis.Redis.from_url(spec.url, **timeouts)


_lock = threading.Lock()
_clients: dict[tuple[str, float, float], Any] = {}


def client(url: str | None = None, *, socket_connect_timeout: float = 3,
           socket_timeout: float = 5) -> redis.Redis | RedisCluster:
    """One client per (URL, timeouts) per process: the coordination store unless `url` says otherwise.

    redis-py's pools notice a fork and reconnect in the child, so Celery's prefork children
    share this cache safely.
    """
    url = url or store_url()
    cache_key = (url, float(socket_connect_timeout), float(socket_timeout))
    found = _clients.get(cache_key)
    if found is None:
        with _lock:
            found = _clients.get(cache_key)
            if found is None:
                found = _clients[cache_key] = build_client(
                    parse_url(url), socket_connect_timeout=socket_connect_timeout, socket_timeout=socket_timeout)
    return found


def quick_client() -> redis.Redis | RedisCluster:
    """A client with short timeouts for health probes, which must never hang a page."""
    return client(socket_connect_timeout=1, socket_timeout=2)


def forget_clients() -> None:
    """Drop cached clients (tests that switch stores; a URL changed under a live process)."""
    with _lock:
        for c in _clients.values():
            with contextlib.suppress(Exception):  # closing a dead client is best effort
                c.close()
        _clients.clear()


ERRORS = (redis.RedisError, OSError, CoordinationNotConfigured)
"""What a call to the store can raise when it is unreachable or not configured."""


class SharedCounter:
    """Named counters every process adds to (one Redis hash): fleet-wide, not per process.

    An increment never waits on Redis (it may count a flood of refused requests): it adds to
    this process's pending tally, which a background thread adds to the shared hash every
    `FLUSH_SECONDS`; a failed flush keeps the tally for the next one. `counts()` flushes
    first, so a reader in this process sees its own increments at once.
    """

    FLUSH_SECONDS = 2.0

    def __init__(self, name: str):
        self.key = key(f"counters:{name}")
        self._pending: dict[str, int] = {}
        self._pending_lock = threading.Lock()
        self._flusher_pid: int | None = None

    def incr(self, field_name: str, amount: int = 1) -> None:
        with self._pending_lock:
            self._pending[field_name] = self._pending.get(field_name, 0) + amount
        self._ensure_flusher()

    def flush(self) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            pipe = quick_client().pipeline(transaction=False)
            for name, amount in pending.items():
                pipe.hincrby(self.key, name, amount)
            pipe.execute()
        except ERRORS:
            with self._pending_lock:
                for name, amount in pending.items():
                    self._pending[name] = self._pending.get(name, 0) + amount

    def counts(self) -> dict[str, int]:
        self.flush()
        try:
            found = {k.decode() if isinstance(k, bytes) else k: int(v)
                     for k, v in quick_client().hgetall(self.key).items()}
        except ERRORS:
            found = {}
        with self._pending_lock:
            for name, amount in self._pending.items():
                found[name] = found.get(name, 0) + amount
        return found

    def reset(self) -> None:
        with self._pending_lock:
            self._pending.clear()
        quick_client().delete(self.key)

    def _ensure_flusher(self) -> None:
        pid = os.getpid()
        if self._flusher_pid == pid:
            return
        with self._pending_lock:
            if self._flusher_pid == pid:
                return
            self._flusher_pid = pid  # a forked child starts its own thread

        def loop() -> None:
            while True:
                time.sleep(self.FLUSH_SECONDS)
                self.flush()

        threading.Thread(target=loop, name=f"counter-{self.key}", daemon=True).start()


def redbeat_config(url: str | None = None) -> dict[str, Any]:
    """celery-redbeat's settings for the coordination store, in redbeat's own URL conventions.

    redbeat keeps the schedule and its lock in Redis, so every beat reads one schedule state
    and only the lock holder sends (see celeryconfig.py). Its keys share the `{redbeat}`
    hash tag: on a cluster the lock and the schedule live on one node.
    """
    spec = parse_url(url or store_url())
    options: dict[str, Any] = {"socket_timeout": 5, "socket_connect_timeout": 3}
    if spec.kind == "sentinel":
        options.update({"sentinels": list(spec.hosts), "service_name": spec.master_name, "db": spec.db})
        if spec.password:
            options["password"] = spec.password
        if spec.username:
            options["username"] = spec.username
        if spec.sentinel_password:
            options["sentinel_kwargs"] = {"password": spec.sentinel_password}
        return {"redbeat_redis_url": "redis-sentinel://", "redbeat_redis_options": options}
    if spec.kind == "cluster":
        host, port = spec.hosts[0]
        auth = f"{spec.username or ''}:{spec.password}@" if spec.password else ""
        scheme = "rediss" if spec.ssl else "redis"
        return {"redbeat_redis_url": f"{scheme}://{auth}{host}:{port}/0",
                "redbeat_redis_options": {**options, "cluster": True}}
    return {"redbeat_redis_url": spec.url, "redbeat_redis_options": options}

"""One running sandbox: its options, the organisation, token issuer, limiter, webhook sender and counters.

The Flask views and the live-mode thread both act through this object, so runtime
configuration (`/sandbox/config`), resets and statistics have exactly one owner.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
from dataclasses import dataclass
from typing import Any

from zoho_sandbox.data import ENTITIES, Change, OrgSnapshot, SandboxOrg
from zoho_sandbox.generator import DEFAULT_ORG_ID
from zoho_sandbox.limits import ApiLimiter, TokenIssuer
from zoho_sandbox.webhooks import Delivery, WebhookSender

log = logging.getLogger(__name__)


@dataclass
class SandboxOptions:
    """Everything `python -m zoho_sandbox` and `create_sandbox_app(**options)` accept."""

    seed: int = 42
    scale: float = 1.0
    org_id: str = DEFAULT_ORG_ID
    client_id: str = "sandbox-client-id"
    client_secret: str = "sandbox-client-secret"
    refresh_token: str = "sandbox-refresh-token"
    rate_limit: int = 100
    daily_limit: int = 10_000
    token_ttl: int = 3600
    fail_rate: float = 0.0
    latency_ms: int = 0
    live: bool = False
    webhook_url: str = "http://127.0.0.1:8000"
    webhook_secret: str = "sandbox-webhook-secret"
    drop_rate: float = 0.0
    interval: float = 2.0
    changes_per_tick: int = 3
    legacy_warehouses: bool = False
    webhook_timeout: float = 10.0
    webhook_retries: int = 3
    webhook_backoff: tuple[float, ...] = (0.2, 0.5, 1.0)

    def __post_init__(self) -> None:
        self.org_id = str(self.org_id)
        self.seed = int(self.seed)
        self.scale = float(self.scale)
        self.webhook_backoff = tuple(float(x) for x in self.webhook_backoff)


#: Options `/sandbox/config` may change while running, with their types.
RUNTIME_KEYS: dict[str, type] = {
    "rate_limit": int,
    "daily_limit": int,
    "token_ttl": int,
    "fail_rate": float,
    "latency_ms": int,
    "drop_rate": float,
    "webhook_url": str,
    "webhook_secret": str,
    "legacy_warehouses": bool,
    "interval": float,
    "changes_per_tick": int,
    "webhook_timeout": float,
    "webhook_retries": int,
}


class ConfigError(ValueError):
    """A `/sandbox/config` or reset body the sandbox cannot apply."""


def _coerce(key: str, value: Any) -> Any:
    kind = RUNTIME_KEYS[key]
    try:
        if kind is bool:
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        result = kind(value)
    except (TypeError, ValueError) as e:
        raise ConfigError(f"{key}: expected {kind.__name__}") from e
    if key in ("fail_rate", "drop_rate") and not 0.0 <= result <= 1.0:
        raise ConfigError(f"{key}: must be between 0 and 1")
    if key in ("interval",) and result <= 0:
        raise ConfigError(f"{key}: must be positive")
    if key in ("latency_ms", "changes_per_tick", "webhook_retries", "token_ttl") and result < 0:
        raise ConfigError(f"{key}: must not be negative")
    return result


class Sandbox:
    """The state behind one sandbox app."""

    def __init__(self, options: SandboxOptions, org: SandboxOrg | None = None) -> None:
        if org is not None:  # an injected organisation defines what a reset regenerates
            options.org_id = org.org_id
            options.seed, options.scale = org.seed, org.scale
        self.initial = dataclasses.replace(options)
        self.options = options
        self._lock = threading.RLock()
        # the seeded organisation a reset restores, kept for the (seed, scale) last generated
        self._snapshot: OrgSnapshot | None = None
        self._org = org or self._seeded_org()
        self._org.legacy_warehouses = options.legacy_warehouses
        self.issuer = TokenIssuer(options.client_id, options.client_secret, options.refresh_token, options.token_ttl)
        self.limiter = ApiLimiter(options.rate_limit, options.daily_limit)
        self.sender = WebhookSender(
            options.webhook_url,
            options.webhook_secret,
            timeout=options.webhook_timeout,
            retries=options.webhook_retries,
            backoff=options.webhook_backoff,
        )
        self._api_calls = 0
        self._by_path: dict[str, int] = {}
        self._injected = 0
        self._chance = random.Random(f"{options.seed}:chance")
        from zoho_sandbox.live import LiveRunner  # live imports runtime types

        self.live = LiveRunner(self)

    # ------------------------------------------------------------------ state

    @property
    def org(self) -> SandboxOrg:
        with self._lock:
            return self._org

    def record_call(self, template: str) -> None:
        with self._lock:
            self._api_calls += 1
            self._by_path[template] = self._by_path.get(template, 0) + 1

    def roll_failure(self) -> bool:
        """Whether this API call is answered with an injected 500 (`fail_rate`)."""
        with self._lock:
            if self.options.fail_rate <= 0:
                return False
            failed = self._chance.random() < self.options.fail_rate
            self._injected += failed
            return failed

    def roll_drop(self) -> bool:
        with self._lock:
            return self.options.drop_rate > 0 and self._chance.random() < self.options.drop_rate

    def config(self) -> dict[str, Any]:
        with self._lock:
            out = {k: getattr(self.options, k) for k in RUNTIME_KEYS}
            out.update(org_id=self.options.org_id, seed=self._org.seed, scale=self._org.scale, live=self.live.running)
            out.pop("webhook_secret")
            out["webhook_secret_set"] = bool(self.options.webhook_secret)
            return out

    def configure(self, changes: dict[str, Any]) -> dict[str, Any]:
        """Apply runtime settings atomically (all valid, or none applied)."""
        if not isinstance(changes, dict):
            raise ConfigError("body must be a JSON object")
        unknown = sorted(set(changes) - set(RUNTIME_KEYS))
        if unknown:
            raise ConfigError(f"unknown setting(s): {', '.join(unknown)}")
        coerced = {k: _coerce(k, v) for k, v in changes.items()}
        with self._lock:
            for k, v in coerced.items():
                setattr(self.options, k, v)
            self._apply()
        return self.config()

    def _apply(self) -> None:
        o = self.options
        self.issuer.ttl = o.token_ttl
        self.limiter.per_minute, self.limiter.daily = o.rate_limit, o.daily_limit
        self.sender.url, self.sender.secret = o.webhook_url, o.webhook_secret
        self.sender.timeout, self.sender.retries, self.sender.backoff = (
            o.webhook_timeout,
            o.webhook_retries,
            o.webhook_backoff,
        )
        self._org.legacy_warehouses = o.legacy_warehouses

    def _seeded_org(self) -> SandboxOrg:
        """A fresh organisation of the current seed and scale, generated only when those changed."""
        o = self.options
        if self._snapshot is None or (self._snapshot.seed, self._snapshot.scale) != (o.seed, o.scale):
            self._snapshot = OrgSnapshot(o.seed, o.scale)
        return self._snapshot.org(org_id=o.org_id, legacy_warehouses=o.legacy_warehouses)

    def reset(
        self,
        seed: int | None = None,
        scale: float | None = None,
        *,
        keep_config: bool = False,
        drop_tokens: bool = False,
        legacy_warehouses: bool | None = None,
    ) -> dict[str, Any]:
        """Regenerate the organisation and zero every counter and limit window.

        The seeded organisation is generated once per (seed, scale) and restored from that
        snapshot afterwards (`OrgSnapshot`): a reset per test costs milliseconds, not a generation.

        Runtime settings return to the start-up options unless `keep_config`; issued
        tokens stay valid unless `drop_tokens` (a client caching a token across tests
        should not be punished for a reset it did not see).
        """
        self.live.stop()
        with self._lock:
            if not keep_config:
                self.options = dataclasses.replace(self.initial)
            if seed is not None:
                self.options.seed = int(seed)
            if scale is not None:
                if float(scale) <= 0:
                    raise ConfigError("scale must be positive")
                self.options.scale = float(scale)
            if legacy_warehouses is not None:
                self.options.legacy_warehouses = bool(legacy_warehouses)
            self._org = self._seeded_org()
            self._api_calls = 0
            self._by_path = {}
            self._injected = 0
            self._chance = random.Random(f"{self.options.seed}:chance")
            self.issuer.reset(drop_tokens)
            self.limiter.reset()
            self.sender.reset()
            self._apply()
            self.live.reset_stats()
            start_live = self.options.live
        if start_live:
            self.live.start()
        return self.stats()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            org = self._org
            calls, by_path, injected = self._api_calls, dict(sorted(self._by_path.items())), self._injected
        return {
            "api_calls": calls,
            "api_calls_by_path": by_path,
            "api_calls_today": self.limiter.used_today(org.org_id),
            "token_refreshes": self.issuer.refreshes,
            "token_refreshes_denied": self.issuer.denied,
            "live_tokens": self.issuer.live_tokens(),
            "rate_limited": self.limiter.limited + self.limiter.daily_limited,
            "rate_limited_minute": self.limiter.limited,
            "rate_limited_daily": self.limiter.daily_limited,
            "injected_failures": injected,
            "webhooks": self.sender.stats(),
            "counts": org.counts(),
            "live": self.live.stats(),
            "org_id": org.org_id,
            "seed": org.seed,
            "scale": org.scale,
        }

    # ------------------------------------------------------------------ webhooks

    def emit(
        self, change: Change, *, honour_drop: bool = True, retries: int | None = None, entity: str | None = None
    ) -> Delivery:
        """Send the webhook for a change; a `drop_rate` share is dropped on purpose (and counted)."""
        name = entity or change.entity
        if honour_drop and self.roll_drop():
            dropped = Delivery(name, change.operation, change.zoho_id, "dropped")
            self.sender.count(name, "dropped", dropped)
            return dropped
        return self.sender.deliver(
            name, change.webhook_key, change.record, change.zoho_id, change.operation, retries=retries
        )

    def suppress(self, change: Change) -> Delivery:
        """A change Zoho sends no webhook for at all (many deletions): counted, never sent."""
        suppressed = Delivery(change.entity, change.operation, change.zoho_id, "suppressed")
        self.sender.count(change.entity, "suppressed", suppressed)
        return suppressed


def entity_names() -> list[str]:
    return list(ENTITIES)

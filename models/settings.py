"""Typed settings read once from the environment (and `.env` when present).

This module sits at the bottom of the import graph so every layer (models, zoho,
tasks, webhook_app) can read configuration without importing upward. No secret
has a default here; insecure development values live in `dev.env`, which says so.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from dotenv import load_dotenv

DEFAULT_DATABASE_URL = "postgresql+psycopg2://postgres@127.0.0.1:5432/zohosync"
DEFAULT_BROKER_URL = "redis://127.0.0.1:6379/0"

ZOHO_DATA_CENTRES = {
    # dc: (API domain, accounts server)
    "com": ("https://www.zohoapis.com", "https://accounts.zoho.com"),
    "eu": ("https://www.zohoapis.eu", "https://accounts.zoho.eu"),
    "in": ("https://www.zohoapis.in", "https://accounts.zoho.in"),
    "com.au": ("https://www.zohoapis.com.au", "https://accounts.zoho.com.au"),
    "jp": ("https://www.zohoapis.jp", "https://accounts.zoho.jp"),
    "ca": ("https://www.zohoapis.ca", "https://accounts.zohocloud.ca"),
    "sa": ("https://www.zohoapis.sa", "https://accounts.zoho.sa"),
    "com.cn": ("https://www.zohoapis.com.cn", "https://accounts.zoho.com.cn"),
}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as e:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from e


def _str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    return raw.strip()


@dataclass(frozen=True)
class Settings:
    database_url: str
    broker_url: str
    result_backend: str | None
    webhook_secret: str | None = field(repr=False)
    zoho_client_id: str | None = field(repr=False)
    zoho_client_secret: str | None = field(repr=False)
    zoho_refresh_token: str | None = field(repr=False)
    zoho_organization_id: str | None
    zoho_dc: str
    zoho_api_base_url: str
    zoho_accounts_url: str
    zoho_rate_limit_per_minute: int
    zoho_daily_call_budget: int
    consumer_pricebook: str
    wholesale_pricebook: str
    admin_token: str | None = field(repr=False)
    max_retries: int
    stuck_lock_seconds: int
    orphan_after_seconds: int
    batch_max: int
    web_port: int
    flower_port: int
    sandbox_port: int
    alert_webhook_url: str | None
    image_dir: str
    # Several machines (docs/scaling.md): the coordination store, pool sizes, proxies, beat.
    redis_url: str | None = None
    database_pool_size: int = 10
    database_max_overflow: int = 10
    trusted_proxies: int = 0
    beat_lock_timeout: int = 60

    @property
    def sandbox_mode(self) -> bool:
        """True when no Zoho credentials are configured: the embedded sandbox plays Zoho."""
        return not (self.zoho_client_id and self.zoho_client_secret and self.zoho_refresh_token)


def env_file() -> str:
    """`$ZOHOSYNC_ENV_FILE`, else `.env` in the working directory, else the checkout's `.env`.

    The last keeps `zohosync …` run from another directory reading the same file as `make run`.
    """
    explicit = os.environ.get("ZOHOSYNC_ENV_FILE")
    if explicit:
        return explicit
    if os.path.exists(".env"):
        return ".env"
    return str(Path(__file__).resolve().parent.parent / ".env")


def load_settings() -> Settings:
    load_dotenv(env_file(), override=False)
    dc = _str("ZOHO_DC", "com")
    if dc not in ZOHO_DATA_CENTRES:
        raise ValueError(f"ZOHO_DC must be one of {sorted(ZOHO_DATA_CENTRES)}, got {dc!r}")
    api_domain, accounts = ZOHO_DATA_CENTRES[dc]
    if _str("ZOHOSYNC_SANDBOX") in ("1", "true", "yes"):
        # The embedded sandbox plays Zoho on SANDBOX_PORT: follow the port, never a pinned one.
        api_domain = accounts = f"http://127.0.0.1:{_int('SANDBOX_PORT', 8765)}"
    return Settings(
        database_url=_str("DATABASE_URL", DEFAULT_DATABASE_URL),
        broker_url=_str("CELERY_BROKER_URL", DEFAULT_BROKER_URL),
        result_backend=_str("CELERY_RESULT_BACKEND"),
        webhook_secret=_str("ZOHO_WEBHOOK_SECRET"),
        zoho_client_id=_str("ZOHO_CLIENT_ID"),
        zoho_client_secret=_str("ZOHO_CLIENT_SECRET"),
        zoho_refresh_token=_str("ZOHO_REFRESH_TOKEN"),
        zoho_organization_id=_str("ZOHO_ORGANIZATION_ID"),
        zoho_dc=dc,
        zoho_api_base_url=_str("ZOHO_API_BASE_URL", api_domain).rstrip("/"),
        zoho_accounts_url=_str("ZOHO_ACCOUNTS_URL", accounts).rstrip("/"),
        zoho_rate_limit_per_minute=_int("ZOHO_RATE_LIMIT_PER_MINUTE", 100),
        zoho_daily_call_budget=_int("ZOHO_DAILY_CALL_BUDGET", 10000),
        consumer_pricebook=_str("ZOHO_CONSUMER_PRICEBOOK", "Consumer Price List"),
        wholesale_pricebook=_str("ZOHO_WHOLESALE_PRICEBOOK", "Wholesale Price List"),
        admin_token=_str("ADMIN_TOKEN"),
        max_retries=_int("SYNC_MAX_RETRIES", 5),
        stuck_lock_seconds=_int("SYNC_STUCK_LOCK_SECONDS", 1800),
        orphan_after_seconds=_int("SYNC_ORPHAN_AFTER_SECONDS", 30),
        batch_max=_int("SYNC_BATCH_MAX", 64),
        web_port=_int("WEB_PORT", 8000),
        flower_port=_int("FLOWER_PORT", 5555),
        sandbox_port=_int("SANDBOX_PORT", 8765),
        alert_webhook_url=_str("ALERT_WEBHOOK_URL"),
        image_dir=_str("ZOHOSYNC_IMAGE_DIR", "var/images"),
        redis_url=_str("REDIS_URL"),
        database_pool_size=_int("DATABASE_POOL_SIZE", 10),
        database_max_overflow=_int("DATABASE_MAX_OVERFLOW", 10),
        trusted_proxies=_int("TRUSTED_PROXIES", 0),
        beat_lock_timeout=_int("BEAT_LOCK_TIMEOUT", 60),
    )


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def reset_settings() -> None:
    """Forget cached settings (tests that change the environment call this)."""
    get_settings.cache_clear()

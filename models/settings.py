"""Typed settings read once from the environment (and `.env` when present).

This module sits at the bottom of the import graph so every layer (models, zoho,
tasks, webhook_app) can read configuration without importing upward. No secret
has a default in code: in sandbox mode (no Zoho credentials) the secrets are random,
made once per checkout and kept in `.run/sandbox-secrets.env` (mode 0600), so the
receiver, the workers, the sandbox and the CLI of one checkout agree on them.

`load_settings()` is what the environment says; `get_settings()` is what a process runs
with: partial Zoho credentials are refused there, and sandbox mode is completed there.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import sys
import tempfile
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


def _bool(name: str, default: bool = False) -> bool:
    raw = (os.environ.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")


class ConfigError(ValueError):
    """A configuration no process may start with (the message says what to change)."""


ROOT = Path(__file__).resolve().parent.parent
ZOHO_CREDENTIALS = ("ZOHO_CLIENT_ID", "ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_ORGANIZATION_ID")
ENTITY_SECRET_PREFIX = "ZOHO_WEBHOOK_SECRET_"
"""`ZOHO_WEBHOOK_SECRET_<ENTITY>` (e.g. `_PRODUCTS`, `_CREDIT_NOTES`): that entity's own webhook secret."""
MIN_SECRET_LENGTH = 12
"""Zoho's webhook secrets are 12–50 characters; the admin token is held to the same floor."""
DEVELOPMENT_VALUES = frozenset({
    "sandbox-webhook-secret", "dev-admin-token", "sandbox-client-id", "sandbox-client-secret",
    "sandbox-refresh-token", "change-me", "changeme", "test-webhook-secret-0123456789",
    "test-admin-token-0123456789",
})
"""Values published in this repository (old dev.env, tests, examples): never a production secret."""
SANDBOX_ORG_ID = "748369814"
"""The organisation the sandbox seeds (public, not a secret)."""
LOOPBACK = "127.0.0.1"


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
    beat_max_loop_interval: int = 10
    heal_interval_seconds: int = 15
    release_grace_seconds: int = 60
    sandbox_mode: bool = False
    """True when no Zoho credential is configured: the embedded sandbox plays Zoho."""
    webhook_entity_secrets: tuple[tuple[str, str], ...] = field(default=(), repr=False)
    webhook_trust_unsigned_hints: bool = False
    web_address: str = LOOPBACK
    flower_address: str = LOOPBACK
    sandbox_address: str = LOOPBACK
    flower_basic_auth: str | None = field(default=None, repr=False)
    run_dir: str = str(ROOT / ".run")

    def webhook_secret_for(self, entity: str) -> str | None:
        """The entity's own secret (`ZOHO_WEBHOOK_SECRET_<ENTITY>`) when set, else the shared one."""
        return dict(self.webhook_entity_secrets).get(entity) or self.webhook_secret

    def has_own_webhook_secret(self, entity: str) -> bool:
        return entity in dict(self.webhook_entity_secrets)


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
        beat_max_loop_interval=_int("BEAT_MAX_LOOP_INTERVAL", 10),
        heal_interval_seconds=_int("SYNC_HEAL_INTERVAL_SECONDS", 15),
        release_grace_seconds=_int("SYNC_RELEASE_GRACE_SECONDS", 60),
        sandbox_mode=not any(_str(name) for name in ZOHO_CREDENTIALS[:3]),
        webhook_entity_secrets=_entity_secrets(),
        webhook_trust_unsigned_hints=_bool("ZOHO_WEBHOOK_TRUST_UNSIGNED_HINTS"),
        web_address=_str("WEB_ADDRESS", LOOPBACK),
        flower_address=_str("FLOWER_ADDRESS", LOOPBACK),
        sandbox_address=_str("SANDBOX_ADDRESS", LOOPBACK),
        flower_basic_auth=_str("FLOWER_BASIC_AUTH"),
        run_dir=_str("ZOHOSYNC_RUN_DIR", str(ROOT / ".run")),
    )


def _entity_secrets() -> tuple[tuple[str, str], ...]:
    """`ZOHO_WEBHOOK_SECRET_CREDIT_NOTES=…` → `("credit-notes", "…")` (entity URL names, lower case)."""
    found = []
    for name, value in os.environ.items():
        if name.startswith(ENTITY_SECRET_PREFIX) and value.strip():
            found.append((name[len(ENTITY_SECRET_PREFIX):].lower().replace("_", "-"), value.strip()))
    return tuple(sorted(found))


def missing_credentials() -> list[str]:
    """The Zoho credentials still unset when some, not all, are set (empty: none or all are set)."""
    given = {name: bool(_str(name)) for name in ZOHO_CREDENTIALS}
    if not any(given.values()) or all(given.values()):
        return []
    return [name for name, ok in given.items() if not ok]


def is_loopback(address: str) -> bool:
    return address in ("127.0.0.1", "::1", "localhost") or address.startswith("127.")


# --------------------------------------------------------------------------- sandbox mode

SANDBOX_SECRETS_FILE = "sandbox-secrets.env"
SANDBOX_SECRETS = {
    # environment variable → how its random value is made
    "ZOHO_WEBHOOK_SECRET": lambda: secrets.token_hex(20),  # 40 characters: inside Zoho's 12–50
    "ADMIN_TOKEN": lambda: secrets.token_urlsafe(24),
    "ZOHO_CLIENT_ID": lambda: "1000." + secrets.token_hex(12).upper(),
    "ZOHO_CLIENT_SECRET": lambda: secrets.token_hex(20),
    "ZOHO_REFRESH_TOKEN": lambda: f"1000.{secrets.token_hex(16)}.{secrets.token_hex(16)}",
    "FLOWER_BASIC_AUTH": lambda: "flower:" + secrets.token_urlsafe(18),
}


def _read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            out[key.strip()] = value.strip()
    return out


def sandbox_secrets(run_dir: str | os.PathLike) -> tuple[dict[str, str], bool]:
    """This checkout's sandbox secrets: made on first use (mode 0600), then read back by every process.

    Processes of one checkout start together, so creation is atomic: the file is written
    aside and linked into place, and a process that loses the race reads the winner's file.
    Returns the values and whether this call made them.
    """
    directory = Path(run_dir)
    path = directory / SANDBOX_SECRETS_FILE
    if path.exists():
        values = _read_env_file(path)
        if all(values.get(k) for k in SANDBOX_SECRETS):
            return values, False
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    values = {name: make() for name, make in SANDBOX_SECRETS.items()}
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".secrets-")  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w") as f:
            f.write("# Random secrets of this checkout's sandbox mode (made on first run). Delete to renew.\n")
            f.writelines(f"{k}={v}\n" for k, v in values.items())
        try:
            os.link(tmp, path)
        except FileExistsError:
            existing = _read_env_file(path)
            if all(existing.get(k) for k in SANDBOX_SECRETS):
                return existing, False
            os.replace(tmp, path)  # an incomplete file from an older version: ours replaces it
            tmp = None
    finally:
        if tmp:
            os.unlink(tmp)
    return values, True


def effective(s: Settings) -> Settings:
    """What a process runs with: partial Zoho credentials refused, sandbox mode completed.

    In sandbox mode every secret still unset takes this checkout's random value and the API
    and accounts hosts point at the sandbox (`ZOHOSYNC_SANDBOX_URL`, else 127.0.0.1:SANDBOX_PORT).
    The webhook secret and admin token are also exported to this process's environment, so
    the log redaction masks them; the OAuth values are not (they would end sandbox mode).
    """
    missing = missing_credentials()
    if missing:
        raise ConfigError("Zoho credentials are only partly configured: " + ", ".join(missing) + " missing. Set all of "
                          + ", ".join(ZOHO_CREDENTIALS) + " for a real organisation, or none of them for sandbox mode.")
    if not s.sandbox_mode:
        return s
    made, new = sandbox_secrets(s.run_dir)
    if new and not _str("ADMIN_TOKEN"):
        # printed once, by the process that made the secrets: the operator's way into the dashboard
        print(f"zohosync sandbox mode: random secrets made and kept in {Path(s.run_dir) / SANDBOX_SECRETS_FILE} "
              f"(mode 0600).\n  Dashboard: http://127.0.0.1:{s.web_port}/dashboard — sign in with the admin token "
              f"{made['ADMIN_TOKEN']}\n  (printed once; the file keeps it)", file=sys.stderr, flush=True)
    for name in ("ZOHO_WEBHOOK_SECRET", "ADMIN_TOKEN"):
        if not _str(name):
            os.environ[name] = made[name]
    sandbox_url = _str("ZOHOSYNC_SANDBOX_URL", f"http://127.0.0.1:{s.sandbox_port}").rstrip("/")
    return dataclasses.replace(
        s, webhook_secret=_str("ZOHO_WEBHOOK_SECRET"), admin_token=_str("ADMIN_TOKEN"),
        zoho_client_id=made["ZOHO_CLIENT_ID"], zoho_client_secret=made["ZOHO_CLIENT_SECRET"],
        zoho_refresh_token=made["ZOHO_REFRESH_TOKEN"], zoho_organization_id=SANDBOX_ORG_ID,
        zoho_api_base_url=(_str("ZOHO_API_BASE_URL") or sandbox_url).rstrip("/"),
        zoho_accounts_url=(_str("ZOHO_ACCOUNTS_URL") or sandbox_url).rstrip("/"),
        # Flower off loopback needs basic auth: sandbox mode has one ready (in its secrets file)
        flower_basic_auth=s.flower_basic_auth or (None if is_loopback(s.flower_address) else made["FLOWER_BASIC_AUTH"]))


def weak_secrets(s: Settings) -> list[str]:
    """Why the receiver's secrets are unfit outside sandbox mode (empty: they are fine)."""
    problems = []
    named = [("ZOHO_WEBHOOK_SECRET", s.webhook_secret), ("ADMIN_TOKEN", s.admin_token)]
    named += [(ENTITY_SECRET_PREFIX + e.upper().replace("-", "_"), v) for e, v in s.webhook_entity_secrets]
    for name, value in named:
        if value is None:
            continue
        if len(value) < MIN_SECRET_LENGTH:
            problems.append(f"{name} is shorter than {MIN_SECRET_LENGTH} characters")
        elif value in DEVELOPMENT_VALUES:
            problems.append(f"{name} is a published development value")
    return problems


def check_receiver(s: Settings) -> None:
    """Refuse to serve webhooks with guessable secrets (outside sandbox mode, whose secrets are random)."""
    if s.sandbox_mode:
        return
    problems = weak_secrets(s)
    if problems:
        raise ConfigError("the receiver will not start: " + "; ".join(problems)
                          + ". Use random values, e.g. python3 -c 'import secrets; print(secrets.token_hex(20))'.")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return effective(load_settings())


def reset_settings() -> None:
    """Forget cached settings (tests that change the environment call this)."""
    get_settings.cache_clear()

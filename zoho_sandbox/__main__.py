"""`python -m zoho_sandbox` (and `zohosync sandbox`): serve the Zoho sandbox in the foreground.

Every option has a `SANDBOX_<NAME>` environment variable as its default
(`SANDBOX_PORT`, `SANDBOX_SEED`, `SANDBOX_WEBHOOK_URL`, …), so `make run` and
docker-compose can configure it without arguments. In a checkout's sandbox mode (no Zoho
credentials) the OAuth client, the webhook secret, the bind address (`SANDBOX_ADDRESS`,
127.0.0.1) and the receiver's port come from `models.settings`, which every process of
the stack reads: the secrets are the checkout's random ones, never published values.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence

from werkzeug.serving import make_server

from zoho_sandbox.app import create_sandbox_app, sandbox_of
from zoho_sandbox.runtime import SandboxOptions

log = logging.getLogger("zoho_sandbox")


def _env(name: str, default: object) -> object:
    return os.environ.get(f"SANDBOX_{name.upper()}", default)


def _flag(name: str) -> bool:
    return str(_env(name, "")).strip().lower() in ("1", "true", "yes", "on")


def _from_settings() -> dict[str, object]:
    """The stack's settings for the sandbox's defaults (empty outside sandbox mode: tests keep the sandbox's own)."""
    from models.settings import get_settings

    s = get_settings()
    if not s.sandbox_mode:
        return {"host": s.sandbox_address}
    return {"host": s.sandbox_address, "client_id": s.zoho_client_id, "client_secret": s.zoho_client_secret,
            "refresh_token": s.zoho_refresh_token, "webhook_secret": s.webhook_secret,
            "webhook_url": f"http://127.0.0.1:{s.web_port}", "org_id": s.zoho_organization_id}


def build_parser() -> argparse.ArgumentParser:
    d = SandboxOptions()
    for key, value in _from_settings().items():
        if value:
            setattr(d, key, value)
    p = argparse.ArgumentParser(
        prog="python -m zoho_sandbox", description="A local HTTP server that behaves like Zoho Books / Inventory."
    )
    p.add_argument("--host", default=_env("host", getattr(d, "host", "127.0.0.1")))
    p.add_argument("--port", type=int, default=int(_env("port", 8765)))
    p.add_argument(
        "--seed", type=int, default=int(_env("seed", d.seed)), help="organisation seed (same seed, same data)"
    )
    p.add_argument("--scale", type=float, default=float(_env("scale", d.scale)), help="multiplies record counts")
    p.add_argument("--org-id", default=_env("org_id", d.org_id))
    p.add_argument("--client-id", default=_env("client_id", d.client_id))
    p.add_argument("--client-secret", default=_env("client_secret", d.client_secret))
    p.add_argument("--refresh-token", default=_env("refresh_token", d.refresh_token))
    p.add_argument(
        "--rate-limit",
        type=int,
        default=int(_env("rate_limit", d.rate_limit)),
        help="API calls per minute per organisation",
    )
    p.add_argument("--daily-limit", type=int, default=int(_env("daily_limit", d.daily_limit)))
    p.add_argument(
        "--token-ttl", type=int, default=int(_env("token_ttl", d.token_ttl)), help="access token lifetime, seconds"
    )
    p.add_argument(
        "--fail-rate", type=float, default=float(_env("fail_rate", d.fail_rate)), help="share of API calls answered 500"
    )
    p.add_argument("--latency-ms", type=int, default=int(_env("latency_ms", d.latency_ms)))
    p.add_argument(
        "--live", action="store_true", default=_flag("live"), help="keep changing records and firing webhooks"
    )
    p.add_argument("--webhook-url", default=_env("webhook_url", d.webhook_url), help="base URL of the webhook receiver")
    p.add_argument("--webhook-secret", default=_env("webhook_secret", d.webhook_secret))
    p.add_argument(
        "--drop-rate",
        type=float,
        default=float(_env("drop_rate", d.drop_rate)),
        help="share of webhooks dropped on purpose",
    )
    p.add_argument(
        "--interval", type=float, default=float(_env("interval", d.interval)), help="live mode: seconds between rounds"
    )
    p.add_argument("--changes-per-tick", type=int, default=int(_env("changes_per_tick", d.changes_per_tick)))
    p.add_argument(
        "--legacy-warehouses",
        action="store_true",
        default=_flag("legacy_warehouses"),
        help="items carry warehouses[] (older organisations) instead of locations[]",
    )
    p.add_argument("--verbose", "-v", action="store_true", help="log every request")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(list(argv) if argv is not None else None)
    if not args.webhook_secret:  # `--webhook-secret ""` (an unset variable): the stack's secret, never none
        args.webhook_secret = _from_settings().get("webhook_secret") or SandboxOptions().webhook_secret
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.INFO if args.verbose else logging.WARNING)
    app = create_sandbox_app(
        seed=args.seed,
        scale=args.scale,
        org_id=args.org_id,
        client_id=args.client_id,
        client_secret=args.client_secret,
        refresh_token=args.refresh_token,
        rate_limit=args.rate_limit,
        daily_limit=args.daily_limit,
        token_ttl=args.token_ttl,
        fail_rate=args.fail_rate,
        latency_ms=args.latency_ms,
        live=args.live,
        webhook_url=args.webhook_url,
        webhook_secret=args.webhook_secret,
        drop_rate=args.drop_rate,
        interval=args.interval,
        changes_per_tick=args.changes_per_tick,
        legacy_warehouses=args.legacy_warehouses,
    )
    sandbox = sandbox_of(app)
    server = make_server(args.host, args.port, app, threaded=True)
    counts = sandbox.org.counts()
    log.info(
        "Zoho sandbox on http://%s:%d (org %s, seed %d, scale %g): %s",
        args.host,
        server.server_port,
        sandbox.org.org_id,
        args.seed,
        args.scale,
        ", ".join(f"{k}={v}" for k, v in counts.items()),
    )
    log.info("live mode %s; webhooks to %s", "on" if args.live else "off", args.webhook_url)

    def _stop(signum: int, frame: object) -> None:
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.live.stop()
        server.server_close()
        log.info("Zoho sandbox stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())

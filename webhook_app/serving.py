"""How the receiver is served: gunicorn's settings (read by `gunicorn.conf.py`) and its log masking.

The worker class is gevent's: each connection is a greenlet, so a client that sends its
headers and then trickles the body holds a few kilobytes, not a thread — forty (or a
thousand) of them cannot starve `/healthz` or Zoho's webhooks. `bench` measures it beside
the old `gthread` configuration. psycopg2 is made cooperative (psycogreen), so a slow
database answer waits in its greenlet instead of blocking the worker.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path

from models.settings import Settings

WORKER_CLASS = "gevent"
WORKER_CONNECTIONS = 1000
_SENSITIVE_PARAM = re.compile(
    r"(?i)((?:^|[?&;\s\"'])(?:admin_token|token|access_token|refresh_token|client_secret|secret|password|signature"
    r"|key)=)([^&;\s\"']*)")
_SENSITIVE_HEADER = re.compile(r"(?i)\b(authorization|x-zoho-webhook-token|x-webhook-key|x-admin-token|cookie)"
                               r"(\s*[:=]\s*)([^\s\"',}]+(?:\s+[^\s\"',}]+)?)")


def mask(text: str, secrets: tuple[str, ...] = ()) -> str:
    """`text` with the values of secret-bearing query parameters and headers, and every known secret, as ***."""
    for value in secrets:
        if value:
            text = text.replace(value, "***")
    text = _SENSITIVE_PARAM.sub(lambda m: m.group(1) + "***", text)
    return _SENSITIVE_HEADER.sub(lambda m: m.group(1) + m.group(2) + "***", text)


class SecretMaskingFilter(logging.Filter):
    """A logging filter for gunicorn's access and error logs: the line is rendered, then masked."""

    def __init__(self, secrets: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.secrets = tuple(sorted((s for s in secrets if s and len(s) >= 6), key=len, reverse=True))

    def filter(self, record: logging.LogRecord) -> bool:
        masked = mask(record.getMessage(), self.secrets)
        record.msg, record.args = masked, ()
        return True


def known_secrets(s: Settings) -> tuple[str, ...]:
    values = [s.webhook_secret, s.admin_token, s.zoho_client_secret, s.zoho_refresh_token, s.flower_basic_auth]
    values += [v for _, v in s.webhook_entity_secrets]
    return tuple(v for v in values if v)


def gunicorn_settings(s: Settings) -> dict[str, object]:
    """The settings `gunicorn.conf.py` exports (bind from WEB_ADDRESS / WEB_PORT, 127.0.0.1 unless told)."""
    return {
        "bind": [f"[{s.web_address}]:{s.web_port}" if ":" in s.web_address else f"{s.web_address}:{s.web_port}"],
        "workers": int(os.environ.get("WEB_WORKERS", "2")),
        "worker_class": WORKER_CLASS,
        "worker_connections": WORKER_CONNECTIONS,
        "timeout": 30,
        "graceful_timeout": 30,
        "keepalive": 5,
        "limit_request_line": 8190,
        "limit_request_fields": 100,
        "limit_request_field_size": 8190,
        "accesslog": os.environ.get("WEB_ACCESS_LOG", "-"),
        "errorlog": os.environ.get("WEB_ERROR_LOG", "-"),
        # gunicorn ≥ 25.1's control socket (it can stop and resize the server): this checkout's, per port, 0600 —
        # not one path in $HOME shared by every gunicorn of the user. Older gunicorns ignore the name.
        "control_socket": str(Path(s.run_dir) / f"gunicorn-{s.web_port}.ctl"),
    }


def install_log_masking(s: Settings) -> None:
    """Mask secrets in every line gunicorn writes (the access log's request line and referer, its errors)."""
    for name in ("gunicorn.access", "gunicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, SecretMaskingFilter) for f in logger.filters):
            logger.addFilter(SecretMaskingFilter(known_secrets(s)))


def cooperative_psycopg() -> None:
    """psycopg2 waits through gevent's hub (psycopg2's public wait-callback hook, via psycogreen)."""
    from psycogreen.gevent import patch_psycopg

    patch_psycopg()

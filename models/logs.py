"""Logging setup: one JSON object per line off a terminal, readable text on one.

Every log call may pass `extra={"event_id": …, "entity": …, "entity_id": …, "task_id": …}`;
those keys become JSON fields. Secrets are never passed to a logger in the first place;
`redact` is a last line of defence for values that might embed one (URLs with tokens).
"""
from __future__ import annotations

import json
import logging
import os
import re
import sys
import time

_CONTEXT_KEYS = ("event", "event_id", "entity", "entity_id", "task_id", "status", "duration_ms", "count")
_SECRET_PATTERNS = [
    re.compile(r"(?i)(token|secret|signature|password|authorization|refresh_token|client_secret)=([^&\s]+)"),
    re.compile(r"(?i)(Zoho-oauthtoken|Bearer)\s+[A-Za-z0-9._\-]+"),
]


_SECRET_PATTERNS.append(
    re.compile(r"""(?i)(["']?(?:access_token|refresh_token|client_secret|password|secret|token)["']?\s*:\s*)"""
               r"""(["'])[^"']*\2"""))
# The configured secrets themselves, wherever they turn up (a URL, a repr, an exception).
SECRET_ENV = ("ZOHO_CLIENT_SECRET", "ZOHO_REFRESH_TOKEN", "ZOHO_WEBHOOK_SECRET", "ADMIN_TOKEN", "FLOWER_BASIC_AUTH",
              "SECRET_KEY")


def _known_secrets() -> list[str]:
    values = []
    for name in SECRET_ENV:
        value = os.environ.get(name) or ""
        if name == "FLOWER_BASIC_AUTH" and ":" in value:
            value = value.split(":", 1)[1]
        if len(value) >= 6:
            values.append(value)
    return sorted(values, key=len, reverse=True)


def redact(text: str) -> str:
    for value in _known_secrets():
        text = text.replace(value, "***")
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(_mask, text)
    return text


def _mask(m: re.Match) -> str:
    if m.lastindex == 2 and m.group(2) in ("'", '"'):
        return f"{m.group(1)}{m.group(2)}***{m.group(2)}"
    return f"{m.group(1)}=***" if m.lastindex == 2 else f"{m.group(1)} ***"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in extras(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def extras(record: logging.LogRecord) -> dict:
    """Every field the call passed in `extra=` (context keys first), text redacted: none is dropped."""
    keys = [k for k in _CONTEXT_KEYS if k in record.__dict__]
    keys += sorted(k for k in record.__dict__ if k not in _STANDARD and k not in keys and not k.startswith("_"))
    out = {}
    for key in keys:
        value = record.__dict__[key]
        if value is not None:
            out[key] = redact(value) if isinstance(value, str) else value
    return out


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def one_line(text: str) -> str:
    """Control characters escaped (`\\n`, `\\x1b`): outside text can never forge a line of the text log."""
    return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = " ".join(f"{k}={getattr(record, k)}" for k in _CONTEXT_KEYS if getattr(record, k, None) is not None)
        message = one_line(redact(record.getMessage()))
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {message}"
        if ctx:
            base += f"  [{one_line(redact(ctx))}]"
        if record.exc_info:
            base += "\n" + redact(self.formatException(record.exc_info))
        return base


def configure_logging(level: str | None = None, stream=None, logger: logging.Logger | None = None,
                      replace: bool = False) -> None:
    """Install the formatter on `logger` (the root logger by default); idempotent.

    `replace=True` also drops the logger's other handlers — Celery's own, whose lines
    would repeat every record in another format and bypass the redaction.
    """
    stream = stream or sys.stderr
    fmt = os.environ.get("ZOHOSYNC_LOG_FORMAT") or ("text" if stream.isatty() else "json")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._zohosync = True  # type: ignore[attr-defined]
    target = logger or logging.getLogger()
    target.handlers = [] if replace else [h for h in target.handlers if not getattr(h, "_zohosync", False)]
    target.addHandler(handler)
    if logger is None:
        target.setLevel(level or os.environ.get("ZOHOSYNC_LOG_LEVEL", "INFO"))

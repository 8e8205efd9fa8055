"""Logging setup: one JSON object per line off a terminal, readable text on one.

Context is bound once per unit of work (`bind_context`: a Celery task binds `task_id`,
`event_id` and `entity` from its signals) and lands on every line logged inside it; a call
adds its own fields with `extra={…}`. Every such field becomes a JSON field (and a `key=value`
in the text format). Secrets are never passed to a logger in the first place; `redact` is a
last line of defence for values that might embed one (URLs with tokens), and a field named
like a secret is masked whole. In the text format control characters are escaped, so a
newline inside a record's name cannot forge a second log line.
"""
from __future__ import annotations

import contextvars
import functools
import json
import logging
import os
import re
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}
_SECRET_KEY = re.compile(r"(?i)(token|secret|password|authorization|signature|api_key|cookie)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "zohosync_log_context", default=MappingProxyType({}))


def bind_context(**fields: Any) -> contextvars.Token:
    """Add fields to every log line of the current context (a task, a request); returns a reset token."""
    return _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def reset_context(token: contextvars.Token | None = None) -> None:
    """Undo `bind_context` (or, without a token, forget every bound field)."""
    if token is not None:
        _context.reset(token)
    else:
        _context.set(MappingProxyType({}))


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = bind_context(**fields)
    try:
        yield
    finally:
        _context.reset(token)


def record_fields(record: logging.LogRecord) -> dict[str, Any]:
    """The bound context, then every field the call passed in `extra=` (which win), secrets masked."""
    fields = dict(_context.get())
    for key, value in record.__dict__.items():
        if key not in _STANDARD_ATTRS and not key.startswith("_"):
            fields[key] = value
    return {key: _clean(key, value) for key, value in fields.items() if value is not None}


@functools.lru_cache(maxsize=1024)
def _secret_key(key: str) -> bool:
    return _SECRET_KEY.search(key) is not None


def _clean(key: str, value: Any) -> Any:
    if _secret_key(str(key)):
        return "***"
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _clean(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_clean(key, v) for v in value]
    return redact(str(value))


def escape_controls(text: str) -> str:
    """Control characters written out (`\\n`, `\\x1b`, `\\u2028`): one record stays one line."""
    return _CONTROL.sub(_escape, text)


def _escape(m: re.Match) -> str:
    c = m.group()
    named = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c)
    return named or (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


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


def _known_secrets() -> tuple[str, ...]:
    """The configured secret values, longest first (re-read when the environment changes)."""
    return _secret_values(tuple(os.environ.get(name) or "" for name in SECRET_ENV))


@functools.lru_cache(maxsize=8)
def _secret_values(raw: tuple[str, ...]) -> tuple[str, ...]:
    values = []
    for name, value in zip(SECRET_ENV, raw):
        if name == "FLOWER_BASIC_AUTH" and ":" in value:
            value = value.split(":", 1)[1]
        if len(value) >= 6:
            values.append(value)
    return tuple(sorted(values, key=len, reverse=True))


_SECRET_WORDS = ("token", "secret", "signature", "password", "authorization", "bearer")
"""Every `_SECRET_PATTERNS` match holds one of these once case-folded: text without any skips the patterns."""


def redact(text: str) -> str:
    for value in _known_secrets():
        if value in text:
            text = text.replace(value, "***")
    lowered = text.casefold()
    if any(word in lowered for word in _SECRET_WORDS):
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
        for key, value in record_fields(record).items():
            out.setdefault(key, value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = record_fields(record)
        ctx = " ".join(f"{k}={escape_controls(v if isinstance(v, str) else json.dumps(v, default=str, ensure_ascii=False))}"
                       for k, v in fields.items())
        message = escape_controls(redact(record.getMessage()))
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {message}"
        if ctx:
            base += f"  [{redact(ctx)}]"
        if record.exc_info:
            lines = redact(self.formatException(record.exc_info)).splitlines()
            base += "".join(f"\n  | {escape_controls(line)}" for line in lines)
        return base


class _Handler(logging.StreamHandler):
    """Ours, told apart from other handlers so that configuring twice replaces it."""


def configure_logging(level: str | None = None, stream=None, logger: logging.Logger | None = None,
                      replace: bool = False) -> None:
    """Install the formatter on `logger` (the root logger by default); idempotent.

    `replace=True` also drops the logger's other handlers — Celery's own, whose lines
    would repeat every record in another format and bypass the redaction.
    """
    stream = stream or sys.stderr
    fmt = os.environ.get("ZOHOSYNC_LOG_FORMAT") or ("text" if stream.isatty() else "json")
    handler = _Handler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    target = logger or logging.getLogger()
    target.handlers = [] if replace else [h for h in target.handlers if not isinstance(h, _Handler)]
    target.addHandler(handler)
    if logger is None:
        target.setLevel(level or os.environ.get("ZOHOSYNC_LOG_LEVEL", "INFO"))

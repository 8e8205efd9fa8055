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


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: f"{m.group(1)}=***" if m.lastindex == 2 else f"{m.group(1)} ***", text)
    return text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key in _CONTEXT_KEYS:
            value = getattr(record, key, None)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        ctx = " ".join(f"{k}={getattr(record, k)}" for k in _CONTEXT_KEYS if getattr(record, k, None) is not None)
        base = f"{self.formatTime(record, '%H:%M:%S')} {record.levelname:<7} {record.name}: {redact(record.getMessage())}"
        if ctx:
            base += f"  [{ctx}]"
        if record.exc_info:
            base += "\n" + redact(self.formatException(record.exc_info))
        return base


def configure_logging(level: str | None = None, stream=None) -> None:
    """Install the formatter on the root logger (idempotent)."""
    stream = stream or sys.stderr
    fmt = os.environ.get("ZOHOSYNC_LOG_FORMAT") or ("text" if stream.isatty() else "json")
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler._zohosync = True  # type: ignore[attr-defined]
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if not getattr(h, "_zohosync", False)]
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("ZOHOSYNC_LOG_LEVEL", "INFO"))

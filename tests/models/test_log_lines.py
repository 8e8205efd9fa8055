"""Text log lines stay one line each (issue 14): outside text cannot forge a record, nor carry a secret in context."""
from __future__ import annotations

import io
import logging

from models.logs import TextFormatter


def _line(msg: str, *args, **extra) -> str:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter())
    logger = logging.getLogger("tests.log_lines")
    logger.handlers, logger.propagate = [handler], False
    logger.warning(msg, *args, extra=extra)
    return stream.getvalue()


def test_a_newline_in_a_message_or_a_context_value_is_escaped_not_a_new_line():
    out = _line("refused %s", "x\n12:00:00 INFO forged", entity="pro\nducts\x1b[31m")
    assert out.count("\n") == 1 and "\\n12:00:00 INFO forged" in out and "pro\\nducts\\x1b[31m" in out


def test_a_configured_secret_in_a_context_value_is_masked(monkeypatch):
    monkeypatch.setenv("ADMIN_TOKEN", "adm-context-secret-42")
    out = _line("refused", entity="products?admin=adm-context-secret-42")
    assert "adm-context-secret-42" not in out

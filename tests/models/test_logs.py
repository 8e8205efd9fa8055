"""Logs: one line per record, secrets masked in every form they may take, Celery's own handler replaced."""
from __future__ import annotations

import io
import json
import logging

import pytest

from models.logs import JsonFormatter, configure_logging, redact


@pytest.fixture
def secrets_env(monkeypatch):
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", "cs-7f3a9e1b2c")
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", "1000.refresh.abcdef123456")
    monkeypatch.setenv("FLOWER_BASIC_AUTH", "ops:flower-pass-99")


@pytest.mark.parametrize("text, leaked", [
    ("GET https://accounts.zoho.com/oauth/v2/token?refresh_token=1000.x.y&client_secret=zz", ["1000.x.y", "zz"]),
    ("Authorization: Zoho-oauthtoken 1000.aaaa.bbbb", ["1000.aaaa.bbbb"]),
    ("Authorization: Bearer admintoken123", ["admintoken123"]),
    ('answer {"access_token": "1000.tok.en", "expires_in": 3600}', ["1000.tok.en"]),
    ("{'refresh_token': 'r-e-f-r-e-s-h'}", ["r-e-f-r-e-s-h"]),
])
def test_redact_masks_secrets_in_urls_headers_and_json(text, leaked):
    out = redact(text)
    for value in leaked:
        assert value not in out
    assert "***" in out


def test_redact_masks_the_configured_secret_values_wherever_they_appear(secrets_env):
    out = redact("boom: client cs-7f3a9e1b2c / 1000.refresh.abcdef123456 / flower-pass-99")
    assert "cs-7f3a9e1b2c" not in out and "1000.refresh.abcdef123456" not in out and "flower-pass-99" not in out


def test_redact_leaves_ordinary_text_alone(secrets_env):
    text = "event processed entity=products event_id=42 status=applied"
    assert redact(text) == text


def test_json_lines_carry_context_and_mask_exceptions(secrets_env):
    record = logging.LogRecord("tasks.sync", logging.ERROR, __file__, 1, "failed for %s", ("cs-7f3a9e1b2c",), None)
    try:
        raise RuntimeError("token refresh failed: 1000.refresh.abcdef123456")
    except RuntimeError:
        import sys
        record.exc_info = sys.exc_info()
    record.event_id = 7
    line = JsonFormatter().format(record)
    body = json.loads(line)
    assert body["event_id"] == 7 and body["level"] == "error" and body["logger"] == "tasks.sync"
    assert "cs-7f3a9e1b2c" not in line and "1000.refresh.abcdef123456" not in line


def test_replace_drops_celerys_handler_so_each_record_is_one_line():
    logger = logging.getLogger("zohosync-test-celery-like")
    logger.propagate = False
    celery_stream, our_stream = io.StringIO(), io.StringIO()
    logger.addHandler(logging.StreamHandler(celery_stream))
    configure_logging(logger=logger, replace=True, stream=our_stream)
    configure_logging(logger=logger, replace=True, stream=our_stream)  # idempotent
    logger.warning("hello")
    assert celery_stream.getvalue() == ""
    assert our_stream.getvalue().count("hello") == 1
    assert len(logger.handlers) == 1


def test_json_lines_keep_every_field_a_call_passes_with_text_redacted(secrets_env):
    """A "zoho call failed" line keeps its status and error (the formatter once kept only its own list)."""
    record = logging.LogRecord("zoho.client", logging.WARNING, __file__, 1, "zoho call failed", (), None)
    for key, value in {"zoho_status": 500, "error_type": "TransientError", "attempt": 4, "zoho_path": "/items",
                       "error": "HTTP 500 at https://x/?token=cs-7f3a9e1b2c"}.items():
        setattr(record, key, value)
    line = JsonFormatter().format(record)
    body = json.loads(line)
    assert (body["zoho_status"], body["error_type"], body["attempt"], body["zoho_path"]) == (
        500, "TransientError", 4, "/items")
    assert body["error"].startswith("HTTP 500") and "cs-7f3a9e1b2c" not in line


def _record(msg="zoho call failed", args=(), **extra) -> logging.LogRecord:
    record = logging.LogRecord("zoho.client", logging.WARNING, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_lines_carry_every_field_the_call_passes_not_only_a_fixed_list():
    body = json.loads(JsonFormatter().format(_record(status=503, error="Service Unavailable", attempt=2,
                                                     path="/items", elapsed_ms=12.5)))
    assert (body["status"], body["error"], body["attempt"], body["path"], body["elapsed_ms"]) == (
        503, "Service Unavailable", 2, "/items", 12.5)


def test_fields_named_like_secrets_and_secret_values_inside_fields_are_masked(secrets_env):
    line = JsonFormatter().format(_record(access_token="1000.tok.en", client_secret="abc", headers={
        "Authorization": "Zoho-oauthtoken 1000.aaaa.bbbb", "X-Request": "ok"}, url="https://x/?refresh_token=r1",
        detail="boom cs-7f3a9e1b2c"))
    body = json.loads(line)
    assert body["access_token"] == "***" and body["client_secret"] == "***"
    assert body["headers"] == {"Authorization": "***", "X-Request": "ok"}
    for leaked in ("1000.tok.en", "1000.aaaa.bbbb", "r1", "cs-7f3a9e1b2c"):
        assert leaked not in line


def test_context_bound_once_is_on_every_line_and_a_calls_own_extra_wins():
    from models.logs import log_context

    with log_context(task_id="t-1", event_id=7, entity="products"):
        inside = json.loads(JsonFormatter().format(_record(entity="invoices")))
    outside = json.loads(JsonFormatter().format(_record()))
    assert (inside["task_id"], inside["event_id"], inside["entity"]) == ("t-1", 7, "invoices")
    assert "task_id" not in outside and "event_id" not in outside


def test_a_newline_in_a_value_cannot_forge_a_second_text_log_line():
    from models.logs import TextFormatter

    forged = "Bags\n12:00:00 INFO    tasks.heal: all good"
    line = TextFormatter().format(_record("applied %s", (forged,), entity_name=forged))
    assert "\n" not in line and line.count("\\n") == 2
    assert "Bags\\n12:00:00 INFO" in line


def test_a_traceback_stays_indented_under_its_text_line():
    from models.logs import TextFormatter

    try:
        raise ValueError("bad\nforged line")
    except ValueError:
        import sys

        record = _record()
        record.exc_info = sys.exc_info()
    lines = TextFormatter().format(record).split("\n")
    assert all(line.startswith("  | ") for line in lines[1:])

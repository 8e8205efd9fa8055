"""Celery's per-message "received"/"succeeded" lines: DEBUG for `sync.<entity>.process`, INFO for every other task."""
from __future__ import annotations

import logging

import pytest
from celery.app.trace import LOG_FAILURE, LOG_RECEIVED, LOG_SUCCESS

from tasks.base import PerEventLinesAtDebug, is_per_event_task


@pytest.fixture
def captured():
    logger = logging.getLogger("test.per_event_lines")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    logger.addHandler(handler)
    logger.addFilter(PerEventLinesAtDebug())
    logger.propagate = False
    root_level = logging.getLogger().level
    yield logger, records
    logging.getLogger().setLevel(root_level)
    logger.removeHandler(handler)
    logger.filters.clear()


def _context(name: str) -> dict:
    return {"id": "t-1", "name": name, "args": "(7,)", "kwargs": "{}", "eta": None, "runtime": 0.01,
            "return_value": "{'skipped': 1}", "description": "raised", "exc": "boom"}


def test_received_and_succeeded_lines_of_per_event_tasks_are_dropped_at_info(captured):
    logger, records = captured
    logging.getLogger().setLevel(logging.INFO)
    for fmt in (LOG_RECEIVED, LOG_SUCCESS):
        logger.info(fmt, _context("sync.products.process"))
    assert records == []


def test_they_reappear_at_debug_level_as_debug_lines(captured):
    logger, records = captured
    logging.getLogger().setLevel(logging.DEBUG)
    logger.info(LOG_SUCCESS, _context("sync.invoices.process"))
    assert [(r.levelname, r.getMessage()[:40]) for r in records] == [
        ("DEBUG", "Task sync.invoices.process[t-1] succeede")]


@pytest.mark.parametrize("name", ["sync.products.process_batch", "bulk.pull_page", "heal.enqueue_orphans", None])
def test_other_tasks_keep_their_info_lines(captured, name):
    logger, records = captured
    logging.getLogger().setLevel(logging.INFO)
    logger.info(LOG_SUCCESS, _context(name))
    assert [r.levelname for r in records] == ["INFO"]


def test_failures_of_per_event_tasks_are_never_demoted(captured):
    logger, records = captured
    logging.getLogger().setLevel(logging.INFO)
    logger.error(LOG_FAILURE, _context("sync.products.process"))
    assert [r.levelname for r in records] == ["ERROR"]


def test_only_sync_entity_process_is_a_per_event_task():
    assert is_per_event_task("sync.credit-notes.process")
    assert not is_per_event_task("sync.credit-notes.process_batch")
    assert not is_per_event_task("monitor.process")
    assert not is_per_event_task(42)

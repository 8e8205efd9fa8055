"""heal.check_workers: an alert when no worker answers a ping, cleared when one does (once, not twice)."""
from __future__ import annotations

from sqlalchemy import text

from tasks import app, heal


def _alerts(db):
    with db.connect() as c:
        return c.execute(text("SELECT check_name, severity, cleared_at IS NULL AS open FROM tds_alerts "
                              "WHERE check_name = 'workers' ORDER BY id")).all()


def test_no_answer_raises_one_workers_alert_and_an_answer_clears_it(db, monkeypatch):
    replies: list = []
    monkeypatch.setattr(app.control, "ping", lambda timeout: replies)
    assert heal.check_workers() == {"workers": []}
    assert heal.check_workers() == {"workers": []}  # still down: the same alert, not a second one
    assert [(a.severity, a.open) for a in _alerts(db)] == [("critical", True)]

    replies.append({"catalog@host": {"ok": "pong"}})
    assert heal.check_workers() == {"workers": ["catalog@host"]}
    assert [(a.severity, a.open) for a in _alerts(db)] == [("critical", False)]

"""The operator's CLI answers and levers: error patterns, recent pulls, Zoho vs ERP, alerts, heal, dead letters."""
from __future__ import annotations

import json

from click.testing import CliRunner
from sqlalchemy import text

from tasks.cli import main
from tests.tasks.test_health import seed, seed_dead_letters


def run(*args):
    return CliRunner().invoke(main, list(args))


def q(db, sql: str, **params):
    with db.begin() as c:
        return c.execute(text(sql), params).all()


def test_heal_runs_the_purge_of_old_completed_events_too(db, redis_client):
    seed(db, 3, "completed", age_minutes=40 * 24 * 60)
    seed(db, 2, "completed", age_minutes=60)
    result = run("heal", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["heal.purge_completed"] == {"purged": 3}
    assert q(db, "SELECT count(*) FROM tds_sync_queue")[0][0] == 2


def test_retrying_an_unknown_dead_letter_says_so_and_exits_1(db, redis_client):
    result = run("dlq", "retry", "999999")
    assert result.exit_code == 1 and "no unresolved dead letter with id 999999" in result.output


def test_resolving_a_resolved_dead_letter_exits_1_and_audits_nothing(db, redis_client):
    seed_dead_letters(db, 1, resolved=True)
    (dl_id,) = q(db, "SELECT id FROM tds_dead_letter_queue")[0]
    result = run("dlq", "resolve", str(dl_id))
    assert result.exit_code == 1, result.output
    assert q(db, "SELECT count(*) FROM tds_audit_trail WHERE action = 'dlq.resolve'")[0][0] == 0


def test_errors_groups_failures_by_entity_and_error_with_counts(db, redis_client):
    seed(db, 4, "failed", "products", error="HTTP 500 from Zoho")
    seed(db, 2, "dead", "products", error="rate: not a number")
    seed(db, 1, "failed", "customers", error="HTTP 500 from Zoho")
    result = run("errors", "--json")
    assert result.exit_code == 0, result.output
    got = {(r["entity_type"], r["error"]): (r["n"], r["dead"]) for r in json.loads(result.output)}
    assert got == {("products", "HTTP 500 from Zoho"): (4, 0), ("products", "rate: not a number"): (2, 2),
                   ("customers", "HTTP 500 from Zoho"): (1, 0)}
    assert "HTTP 500 from Zoho" in run("errors").output


def test_runs_lists_recent_pulls_newest_first_with_their_figures(db, redis_client):
    with db.begin() as c:
        c.execute(text("INSERT INTO tds_sync_runs (entity_type, kind, status, api_calls, fetched, changed, failed, "
                       "duration_ms, started_at, finished_at) VALUES "
                       "('invoices', 'incremental', 'completed', 575, 4000, 3900, 2, 660000, "
                       "now() - interval '1 hour', now() - interval '49 minutes'), "
                       "('products', 'full', 'running', 3, 600, 10, 0, NULL, now(), NULL)"))
    rows = json.loads(run("runs", "--json").output)
    assert [(r["entity_type"], r["kind"], r["status"]) for r in rows] == [("products", "full", "running"),
                                                                          ("invoices", "incremental", "completed")]
    assert (rows[1]["api_calls"], rows[1]["fetched"], rows[1]["changed"], rows[1]["failed"], rows[1]["duration_ms"]) \
        == (575, 4000, 3900, 2, 660000)
    assert "invoices" in run("runs").output


def test_alerts_list_and_ack_and_an_unknown_alert_exits_1(db, redis_client):
    with db.begin() as c:
        (alert_id,) = c.execute(text("INSERT INTO tds_alerts (check_name, severity, message) "
                                     "VALUES ('pending', 'warning', '60 waiting') RETURNING id")).one()
    assert [a["id"] for a in json.loads(run("alerts", "list", "--json").output)] == [alert_id]
    result = run("alerts", "ack", str(alert_id), "--note", "looking into it")
    assert result.exit_code == 0, result.output
    (acked,) = json.loads(run("alerts", "list", "--json").output)
    assert acked["acknowledged_by"] == "cli" and acked["acknowledged_at"]
    assert q(db, "SELECT details->>'note' FROM tds_audit_trail WHERE action = 'alert.ack'") == [("looking into it",)]
    assert run("alerts", "ack", "999999").exit_code == 1


def test_compare_shows_the_last_reconciliation_per_entity(db, redis_client):
    with db.begin() as c:
        c.execute(text("INSERT INTO tds_reconcile_results (entity_type, zoho_count, erp_count, missing, stale, extra, "
                       "match_pct) VALUES ('customers', 100, 98, 2, 1, 0, 97.00)"))
    rows = {r["entity"]: r for r in json.loads(run("compare", "--json").output)}
    assert (rows["customers"]["missing"], rows["customers"]["match_pct"]) == (2, "97.00")
    assert rows["invoices"]["last_reconciled_at"] is None
    assert "97.00" in run("compare").output

"""Bulk pulls against the sandbox over real HTTP, real PostgreSQL and real Redis (issue 5).

The sandbox runs at a small scale (tens of records per entity) with its rate limit raised,
so each test takes well under a second or two of pulling; `PER_PAGE` is lowered where a
test needs several pages.
"""
from __future__ import annotations

import itertools
import json
import math
import threading
import time

import pytest
from click.testing import CliRunner

from tasks import bulk
from tasks.bulk import PullLocked, pull_entity
from tasks.cli import main
from tasks.reconcile import reconcile_entity
from tests.conftest import TEST_ADMIN_TOKEN
from tests.support.procs import BIN, Process, child_env, wait_for
from tests.tasks.bulk_support import (
    SANDBOX_ENV,
    Zoho,
    calls_delta,
    customer_rows,
    drain,
    invoice_rows,
    lmt,
    point_client_at,
    product_rows,
    q,
    sandbox_customers,
    sandbox_invoices,
    sandbox_products,
)
from zoho import client as zoho_client
from zoho.client import ZohoClient
from zoho.entities import get_entity
from zoho.errors import PermanentError, TransientError
from zoho_sandbox.server import SandboxServer

SCALE = 0.02
ITEMS = "/inventory/v1/items"
INVOICES = "/books/v3/invoices"
INVOICE_DETAIL = "/books/v3/invoices/{id}"


@pytest.fixture(scope="module")
def sandbox_server():
    with SandboxServer(scale=SCALE, seed=42, rate_limit=100000, daily_limit=10_000_000) as server:
        yield server


@pytest.fixture
def zoho(sandbox_server, db, redis_client, monkeypatch) -> Zoho:
    z = Zoho(sandbox_server.url)
    z.reset()
    point_client_at(monkeypatch, sandbox_server.url)
    return z


def run_row(db, run_id):
    return q(db, "SELECT * FROM tds_sync_runs WHERE id = :i", i=run_id)[0]


def cursor(db, entity):
    return q(db, "SELECT last_modified_at FROM tds_sync_cursors WHERE entity_type = :e", e=entity)[0][0]


def events(db, entity):
    return q(db, "SELECT entity_id, operation, zoho_last_modified_at FROM tds_sync_queue WHERE entity_type = :e "
                 "ORDER BY id", e=entity)


class FailingClient(ZohoClient):
    """A real client that breaks like a dying process: list call number `fail_on` raises."""

    def __init__(self, fail_on: int | None = None, refuse_detail: str | None = None):
        super().__init__()
        self.fail_on, self.refuse_detail, self.lists = fail_on, refuse_detail, 0

    def get(self, service, path, params=None, priority="realtime"):
        if params and "per_page" in params:
            self.lists += 1
            if self.lists == self.fail_on:
                raise TransientError("connection reset (injected)")
        return super().get(service, path, params, priority)

    def get_record(self, source, zoho_id, priority="realtime"):
        if zoho_id == self.refuse_detail:
            raise PermanentError("refused (injected)")
        return super().get_record(source, zoho_id, priority)


# -- 1. a first pull lands everything, with honest counts ------------------------------------

def test_first_pull_of_products_records_every_item_and_the_erp_then_equals_the_sandbox(zoho, db):
    items = zoho.records("products")
    before = zoho.calls()
    out = pull_entity("products")
    spent = calls_delta(before, zoho.calls())

    assert out["status"] == "completed"
    assert spent == {ITEMS: math.ceil(len(items) / zoho_client.PER_PAGE)}  # the minimum: one list page
    assert out["api_calls"] == sum(spent.values())
    assert out["fetched"] == len(items)
    assert out["changed_by"] == {"products": len(items), "stock": len(items)}  # stock rides the same pages
    assert out["skipped"] == 0 and out["failed"] == 0
    row = run_row(db, out["run_id"])
    assert (row.status, row.kind, row.fetched, row.changed, row.skipped, row.failed, row.api_calls) == (
        "completed", "incremental", len(items), 2 * len(items), 0, 0, sum(spent.values()))
    assert row.finished_at is not None and row.duration_ms is not None
    assert cursor(db, "products") == max(lmt(r) for r in items)
    assert sorted(e[0] for e in events(db, "products")) == sorted(r["item_id"] for r in items)

    drain(db)
    assert product_rows(db) == sandbox_products(zoho)


def test_first_pull_of_invoices_gets_each_detail_once_and_lands_line_items(zoho, db):
    invoices = zoho.records("invoices")
    before = zoho.calls()
    out = pull_entity("invoices")
    spent = calls_delta(before, zoho.calls())

    assert spent == {INVOICES: 1, INVOICE_DETAIL: len(invoices)}
    assert (out["fetched"], out["changed"], out["skipped"], out["failed"], out["api_calls"]) == (
        len(invoices), len(invoices), 0, 0, 1 + len(invoices))
    row = run_row(db, out["run_id"])
    assert (row.fetched, row.changed, row.api_calls) == (len(invoices), len(invoices), 1 + len(invoices))
    assert cursor(db, "invoices") == max(lmt(r) for r in invoices)
    drain(db)
    erp = invoice_rows(db)
    assert erp == sandbox_invoices(zoho)
    assert sum(r[-1] for r in erp.values()) > len(invoices)  # line items really arrived


# -- 2. incremental pulls only fetch what moved ------------------------------------------------

def test_a_second_pull_with_nothing_changed_records_nothing_and_spends_one_call_per_list(zoho, db):
    pull_entity("products")
    pull_entity("invoices")
    drain(db)
    n_events = q(db, "SELECT count(*) FROM tds_sync_queue")[0][0]

    before = zoho.calls()
    p = pull_entity("products")
    i = pull_entity("invoices")
    assert calls_delta(before, zoho.calls()) == {ITEMS: 1, INVOICES: 1}  # no detail GET at all
    assert p["changed"] == 0 and i["changed"] == 0
    assert p["api_calls"] == 1 and i["api_calls"] == 1
    assert q(db, "SELECT count(*) FROM tds_sync_queue")[0][0] == n_events


def test_after_a_few_edits_only_those_records_are_recorded_and_only_their_details_fetched(zoho, db):
    pull_entity("products")
    pull_entity("invoices")
    drain(db)
    items = [r["item_id"] for r in zoho.records("products")][3:6]
    invoices = [r["invoice_id"] for r in zoho.records("invoices")][:2]
    for zid in items:
        zoho.touch("products", zid, name=f"renamed {zid}", rate=123.45)
    for zid in invoices:
        zoho.touch("invoices", zid)
    seen = {e: len(events(db, e)) for e in ("products", "invoices")}

    before = zoho.calls()
    p = pull_entity("products")
    i = pull_entity("invoices")
    spent = calls_delta(before, zoho.calls())

    assert spent == {ITEMS: 1, INVOICES: 1, INVOICE_DETAIL: 2}
    assert p["changed_by"]["products"] == 3 and i["changed_by"] == {"invoices": 2}
    assert sorted(e[0] for e in events(db, "products")[seen["products"]:]) == sorted(items)
    assert sorted(e[0] for e in events(db, "invoices")[seen["invoices"]:]) == sorted(invoices)
    assert i["api_calls"] == 3 and run_row(db, i["run_id"]).api_calls == 3
    assert cursor(db, "products") == max(lmt(r) for r in zoho.records("products"))
    drain(db)
    assert product_rows(db) == sandbox_products(zoho)
    assert invoice_rows(db) == sandbox_invoices(zoho)
    assert {product_rows(db)[z][0] for z in items} == {f"renamed {z}" for z in items}


# -- 3. interrupted pulls resume from the cursor: no loss, no double work ------------------

def test_a_pull_interrupted_after_two_pages_resumes_from_the_cursor(zoho, db, monkeypatch):
    monkeypatch.setattr(zoho_client, "PER_PAGE", 10)  # the client's pager is the only one
    items = zoho.records("products")
    with pytest.raises(TransientError):
        pull_entity("products", client=FailingClient(fail_on=3))
    failed = q(db, "SELECT status, error_message, fetched FROM tds_sync_runs")[0]
    assert failed.status == "failed" and "injected" in failed.error_message and failed.fetched == 20
    recorded = [e[0] for e in events(db, "products")]
    mid = cursor(db, "products")
    # keyset pages overlap by the boundary row: 2 pages of 10 bring 19 items, each recorded once
    assert len(recorded) == len(set(recorded)) == 19
    assert set(recorded) == {r["item_id"] for r in items if lmt(r) <= mid}
    assert mid < max(lmt(r) for r in items)

    out = pull_entity("products")
    assert out["status"] == "completed"
    ids = [e[0] for e in events(db, "products")]
    assert sorted(ids) == sorted(r["item_id"] for r in items)  # every item exactly once
    assert out["changed_by"]["products"] == len(items) - 19
    assert out["fetched"] < len(items) and out["pages"] <= 3  # it did not start over
    assert cursor(db, "products") == max(lmt(r) for r in items)
    drain(db)
    assert product_rows(db) == sandbox_products(zoho)


def test_an_interrupted_document_pull_never_fetches_a_recorded_detail_twice(zoho, db, monkeypatch):
    monkeypatch.setattr(zoho_client, "PER_PAGE", 5)  # the client's pager is the only one
    invoices = zoho.records("invoices")
    assert len(invoices) > 10
    with pytest.raises(TransientError):
        pull_entity("invoices", client=FailingClient(fail_on=3))
    assert len(events(db, "invoices")) == 10

    before = zoho.calls()
    out = pull_entity("invoices")
    spent = calls_delta(before, zoho.calls())
    assert spent[INVOICE_DETAIL] == len(invoices) - 10
    assert out["changed"] == len(invoices) - 10
    assert sorted(e[0] for e in events(db, "invoices")) == sorted(r["invoice_id"] for r in invoices)
    drain(db)
    assert invoice_rows(db) == sandbox_invoices(zoho)


def test_a_detail_zoho_refuses_holds_the_cursor_so_the_next_run_gets_it(zoho, db):
    invoices = sorted(zoho.records("invoices"), key=lmt)
    refused = invoices[len(invoices) // 2]
    out = pull_entity("invoices", client=FailingClient(refuse_detail=refused["invoice_id"]))
    assert out["status"] == "completed" and out["failed"] == 1
    assert run_row(db, out["run_id"]).failed == 1
    assert cursor(db, "invoices") <= lmt(refused)

    before = zoho.calls()
    again = pull_entity("invoices")
    assert again["changed_by"] == {"invoices": 1}
    assert calls_delta(before, zoho.calls())[INVOICE_DETAIL] == 1
    assert cursor(db, "invoices") == lmt(invoices[-1])
    drain(db)
    assert invoice_rows(db) == sandbox_invoices(zoho)


def test_a_pull_process_killed_mid_way_is_resumed_by_the_next_one(zoho, db, sandbox_server, redis_client):
    """SIGKILL a `zohosync pull` while the sandbox answers slowly; the next pull completes the set."""
    zoho.control("POST", "/config", json={"latency_ms": 250})
    env = child_env(ZOHO_API_BASE_URL=sandbox_server.url, ZOHO_ACCOUNTS_URL=sandbox_server.url,
                    BULK_PULL_LOCK_TTL="3", **SANDBOX_ENV)
    invoices = zoho.records("invoices")
    assert len(invoices) > bulk.DETAIL_CHUNK
    proc = Process("pull", [str(BIN / "zohosync"), "pull", "invoices", "--json"], env)
    try:
        wait_for(lambda: zoho.calls().get(INVOICE_DETAIL, 0) > bulk.DETAIL_CHUNK, timeout=30,
                 interval=0.02, message="first chunk of details fetched")
    finally:
        proc.kill()
        proc.popen.wait()
    zoho.control("POST", "/config", json={"latency_ms": 0})
    assert q(db, "SELECT status FROM tds_sync_runs")[0][0] == "running"  # it really died mid-way
    assert len(events(db, "invoices")) == bulk.DETAIL_CHUNK  # recorded chunk by chunk
    with pytest.raises(PullLocked):
        pull_entity("invoices")  # the dead pull's lock outlives it, briefly
    wait_for(lambda: not redis_client.exists(bulk.lock_name(get_entity("invoices"))), timeout=10,
             message="the dead pull's lock expired")

    before = zoho.calls()
    out = pull_entity("invoices")
    assert out["status"] == "completed" and out["changed"] == len(invoices) - bulk.DETAIL_CHUNK
    assert calls_delta(before, zoho.calls())[INVOICE_DETAIL] == len(invoices) - bulk.DETAIL_CHUNK
    assert q(db, "SELECT status FROM tds_sync_runs ORDER BY id") == [("abandoned",), ("completed",)]
    drain(db)
    assert invoice_rows(db) == sandbox_invoices(zoho)


# -- 4. full pulls detect deletions ---------------------------------------------------------------

def test_a_full_pull_deactivates_erp_rows_whose_zoho_record_is_gone(zoho, db):
    pull_entity("products")
    drain(db)
    gone = [r["item_id"] for r in zoho.records("products")][:2]
    for zid in gone:
        zoho.delete("products", zid)

    pull_entity("products")
    drain(db)
    assert q(db, "SELECT count(*) FROM products WHERE zoho_item_id = ANY(:g) AND is_active", g=gone)[0][0] == 2

    out = pull_entity("products", full=True)
    assert out["deleted_by"] == {"products": 2} and run_row(db, out["run_id"]).deleted == 2
    assert run_row(db, out["run_id"]).kind == "full"
    assert sorted(e[0] for e in events(db, "products") if e[1] == "delete") == sorted(gone)
    drain(db)
    assert q(db, "SELECT count(*) FROM products WHERE zoho_item_id = ANY(:g) AND NOT is_active", g=gone)[0][0] == 2
    assert product_rows(db) == sandbox_products(zoho)
    assert q(db, "SELECT last_full_sync_at IS NOT NULL FROM tds_sync_cursors WHERE entity_type = 'products'")[0][0]

    again = pull_entity("products", full=True)
    assert again["deleted"] == 0 and again["changed"] == 0


def test_a_record_that_arrives_by_webhook_during_a_full_scan_is_not_swept(zoho, db):
    """Created in Zoho after its page was read and applied from a webhook: not a deletion."""
    from models.events import make_event, record_events

    pull_entity("products")
    drain(db)
    created = {}

    def on_page(stats):
        if created:
            return
        record = zoho.create("products")["record"]
        created["id"] = record["item_id"]
        with db.begin() as c:
            record_events(c, [make_event("products", record["item_id"], "upsert", {"item": record}, lmt(record))])
        drain(db)

    out = pull_entity("products", full=True, progress=on_page)
    assert created["id"] not in {e[0] for e in events(db, "products") if e[1] == "delete"}
    assert out["deleted"] == 0
    drain(db)
    assert q(db, "SELECT is_active FROM products WHERE zoho_item_id = :z", z=created["id"])[0][0] is True


class SlippingClient(ZohoClient):
    """A real client whose list pages never show `hidden`: a row that slipped between two pages
    of an offset-paged scan (a record created or deleted mid-scan shifts every page after it)."""

    def __init__(self, hidden: set[str]):
        super().__init__()
        self.hidden = hidden

    def get(self, service, path, params=None, priority="realtime"):
        body = super().get(service, path, params, priority)
        if params and "per_page" in params:
            for key, rows in body.items():
                if isinstance(rows, list):
                    body[key] = [r for r in rows if not (isinstance(r, dict) and r.get("item_id") in self.hidden)]
        return body


def test_a_record_a_full_scan_misses_is_confirmed_by_detail_and_never_deactivated(zoho, db):
    pull_entity("products")
    drain(db)
    items = [r["item_id"] for r in zoho.records("products")]
    slipped, deleted = items[0], items[1]
    zoho.delete("products", deleted)

    before = zoho.calls()
    out = pull_entity("products", full=True, client=SlippingClient({slipped}))
    spent = calls_delta(before, zoho.calls())
    assert out["deleted_by"] == {"products": 1} and out["missed_by"] == {"products": 1}
    assert [e[0] for e in events(db, "products") if e[1] == "delete"] == [deleted]
    assert spent == {"/inventory/v1/items": 1, "/inventory/v1/items/{id}": 2}  # the list, then one GET per candidate
    drain(db)
    active = dict(q(db, "SELECT zoho_item_id, is_active FROM products WHERE zoho_item_id = ANY(:z)",
                    z=[slipped, deleted]))
    assert active == {slipped: True, deleted: False}
    assert product_rows(db) == sandbox_products(zoho)


def test_a_deletion_zoho_will_not_confirm_is_left_for_the_next_full_pull(zoho, db):
    pull_entity("products")
    drain(db)
    slipped = zoho.records("products")[0]["item_id"]

    class Refusing(SlippingClient):
        def get_record(self, source, zoho_id, priority="realtime"):
            raise PermanentError("HTTP 403, code 57: not authorised (injected)")

    out = pull_entity("products", full=True, client=Refusing({slipped}))
    assert out["deleted"] == 0 and out["failed"] == 1
    assert not [e for e in events(db, "products") if e[1] == "delete"]
    drain(db)
    assert q(db, "SELECT is_active FROM products WHERE zoho_item_id = :z", z=slipped)[0][0] is True


def test_a_document_deleted_between_the_list_and_its_detail_is_swept_by_the_same_full_pull(zoho, db):
    pull_entity("invoices")
    drain(db)
    victim = zoho.records("invoices")[0]["invoice_id"]
    zoho.touch("invoices", victim)  # changed, so the full scan fetches its detail

    class DeletedMidScan(ZohoClient):
        def get(self, service, path, params=None, priority="realtime"):
            body = super().get(service, path, params, priority)
            if params and "per_page" in params:
                zoho.delete("invoices", victim)  # gone by the time its detail is asked for
            return body

    out = pull_entity("invoices", full=True, client=DeletedMidScan())
    assert out["deleted_by"] == {"invoices": 1} and not out["missed_by"]
    assert [e[0] for e in events(db, "invoices") if e[1] == "delete"] == [victim]
    drain(db)
    assert q(db, "SELECT is_active FROM invoices WHERE zoho_invoice_id = :z", z=victim)[0][0] is False
    assert invoice_rows(db) == sandbox_invoices(zoho)


# -- 5. one pull at a time per list -----------------------------------------------------------

def test_a_second_concurrent_pull_of_the_same_list_does_not_start(zoho, db):
    zoho.control("POST", "/config", json={"latency_ms": 400})
    results = {}
    first = threading.Thread(target=lambda: results.setdefault("first", pull_entity("products")))
    first.start()
    try:
        wait_for(lambda: q(db, "SELECT count(*) FROM tds_sync_runs WHERE status = 'running'")[0][0] == 1,
                 message="first pull running")
        with pytest.raises(PullLocked):
            pull_entity("products")
        with pytest.raises(PullLocked):
            pull_entity("stock")  # rides the same /items pages, so the same lock
        assert bulk.pull.run("products") == {"entity": "products", "status": "skipped", "reason": "already running"}
        assert q(db, "SELECT count(*) FROM tds_sync_runs")[0][0] == 1
    finally:
        first.join(30)
    assert results["first"]["status"] == "completed"
    zoho.control("POST", "/config", json={"latency_ms": 0})
    assert pull_entity("products")["status"] == "completed"  # the lock was released


# -- 6. reconciliation -----------------------------------------------------------------------------

def test_reconcile_reports_nothing_after_a_pull_and_repairs_a_tampered_erp(zoho, db):
    pull_entity("products")
    drain(db)
    clean = reconcile_entity("products")
    assert clean["differences"] == 0 and clean["enqueued"] == 0
    assert clean["zoho_count"] == clean["erp_count_before"] == len(zoho.records("products"))

    ids = sorted(product_rows(db))
    deleted, aged = ids[0], ids[1]
    with db.begin() as c:
        c.exec_driver_sql("DELETE FROM stock_levels WHERE product_id = (SELECT id FROM products WHERE zoho_item_id = %s)",
                          (deleted,))
        c.exec_driver_sql("DELETE FROM products WHERE zoho_item_id = %s", (deleted,))
        c.exec_driver_sql("UPDATE products SET name = 'tampered', zoho_last_modified_at = zoho_last_modified_at "
                          "- interval '1 day' WHERE zoho_item_id = %s", (aged,))
        c.exec_driver_sql("INSERT INTO products (zoho_item_id, name, is_active, zoho_last_modified_at, last_synced_at) "
                          "VALUES ('1999999999999999999', 'ghost', true, now() - interval '2 days', "
                          "now() - interval '1 day')")

    report = reconcile_entity("products")
    assert (report["missing"], report["stale"], report["extra_in_erp"], report["differences"]) == (1, 1, 1, 3)
    assert report["enqueued"] == 3
    assert run_row(db, report["run_id"]).kind == "reconcile"
    assert run_row(db, report["run_id"]).details["report"]["differences"] == 3
    drain(db)
    assert product_rows(db) == sandbox_products(zoho)
    assert q(db, "SELECT is_active FROM products WHERE zoho_item_id = '1999999999999999999'")[0][0] is False
    assert reconcile_entity("products")["differences"] == 0


# -- 7. HTTP levers and the CLI -------------------------------------------------------------------

def test_bulk_sync_endpoints_need_the_admin_token_and_report_runs(zoho, db, redis_client):
    from webhook_app import create_app

    client = create_app().test_client()
    auth = {"Authorization": f"Bearer {TEST_ADMIN_TOKEN}"}
    assert client.post("/api/zoho/bulk-sync/products").status_code == 401
    assert client.post("/api/zoho/bulk-sync/sync-all").status_code == 401
    assert client.get("/api/zoho/bulk-sync/status").status_code == 401
    assert client.post("/api/zoho/bulk-sync/products", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.post("/api/zoho/bulk-sync/nonsense", headers=auth).status_code == 404

    r = client.post("/api/zoho/bulk-sync/products", headers=auth, json={"full": True})
    assert r.status_code == 202 and r.json["entity"] == "products" and r.json["full"] is True
    messages = [json.loads(m) for m in redis_client.lrange("bulk", 0, -1)]
    assert [(m["headers"]["task"], m["headers"]["id"]) for m in messages] == [("bulk.pull", r.json["task_id"])]
    assert client.post("/api/zoho/bulk-sync/sync-all", headers=auth).status_code == 202
    assert redis_client.llen("bulk") == 2

    out = pull_entity("customers")
    status = client.get("/api/zoho/bulk-sync/status", headers=auth)
    assert status.status_code == 200
    last = status.json["entities"]["customers"]["last_run"]
    assert (last["id"], last["status"], last["fetched"], last["changed"], last["api_calls"]) == (
        out["run_id"], "completed", out["fetched"], out["changed"], out["api_calls"])
    assert status.json["entities"]["customers"]["cursors"][0]["last_modified_at"]
    assert status.json["entities"]["products"]["last_run"] is None and status.json["running"] == []


def test_zohosync_pull_and_reconcile_on_the_command_line(zoho, db):
    # In this process: the `zoho` fixture points the settings at the sandbox, as the environment would a shell's.
    done = CliRunner().invoke(main, ["pull", "products", "--json"])
    assert done.exit_code == 0, done.output
    summary = json.loads(done.stdout)
    n = len(zoho.records("products"))
    assert (summary["status"], summary["fetched"], summary["changed_by"]["products"]) == ("completed", n, n)
    assert run_row(db, summary["run_id"]).fetched == n
    drain(db)

    done = CliRunner().invoke(main, ["reconcile", "products", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["differences"] == 0

    done = CliRunner().invoke(main, ["pull", "nonsense"])
    assert done.exit_code == 2 and "unknown entity" in done.stderr


def test_the_pull_all_task_enqueues_one_pull_per_list(zoho, redis_client):
    out = bulk.pull_all.run()
    assert "stock" not in out["enqueued"]  # products' pages carry stock
    assert {"products", "customers", "vendors", "invoices"} <= set(out["enqueued"])
    # Kombu's Redis transport keeps one list per priority step ("bulk", "bulk\x06\x166", …): catalog and
    # contact pulls wait in the first-served list, document pulls in a later one.
    first = [json.loads(m)["headers"]["argsrepr"] for m in redis_client.lrange("bulk", 0, -1)]
    later = [json.loads(m)["headers"]["argsrepr"] for m in redis_client.lrange("bulk\x06\x166", 0, -1)]
    assert len(first) + len(later) == len(out["enqueued"])
    assert "['products']" in first and "['customers']" in first
    assert "['invoices']" in later and "['products']" not in later


def test_an_older_cursor_overlap_never_records_twice(zoho, db):
    pull_entity("customers")
    with db.begin() as c:
        c.exec_driver_sql("UPDATE tds_sync_cursors SET last_modified_at = last_modified_at - interval '30 days'")
    out = pull_entity("customers")
    assert out["fetched"] > 1 and out["changed"] == 0
    assert len(events(db, "customers")) == len(zoho.records("customers"))
    assert cursor(db, "customers") == max(lmt(r) for r in zoho.records("customers"))



# -- the shared call budget: a pull waits for slots, and a spent day stops it cleanly ----------

def test_a_pull_waits_for_call_slots_when_the_window_is_full_instead_of_failing(zoho, db, monkeypatch):
    from zoho.ratelimit import RateLimiter

    monkeypatch.setattr(zoho_client, "PER_PAGE", 10)  # the client's pager is the only one
    items = zoho.records("products")
    pages = math.ceil(len(items) / 9)  # keyset pages overlap by one row
    # 2 bulk calls per 1-second window: the pull needs several windows, so it must wait in them
    limiter = RateLimiter(per_minute=2, window_seconds=1, daily_budget=100_000, namespace="pull-wait", bulk_share=1.0)
    limiter.reset()
    client = ZohoClient(limiter=limiter, acquire_timeout=bulk.BULK_ACQUIRE_TIMEOUT)
    started = time.monotonic()
    out = pull_entity("products", client=client)
    assert out["status"] == "completed" and out["pages"] >= pages >= 3
    assert time.monotonic() - started >= (out["api_calls"] - 2) // 2 * 0.9  # it waited for the windows
    assert sorted(e[0] for e in events(db, "products")) == sorted(r["item_id"] for r in items)
    # the client a pull builds for itself waits as long as that too
    assert bulk.Puller(get_entity("products"), full=False).client.acquire_timeout == bulk.BULK_ACQUIRE_TIMEOUT


def test_a_pull_stopped_by_the_daily_budget_keeps_what_it_recorded_and_the_next_one_resumes(zoho, db, monkeypatch):
    from zoho.ratelimit import RateLimiter

    monkeypatch.setattr(zoho_client, "PER_PAGE", 10)  # the client's pager is the only one
    items = zoho.records("products")
    # a day's bulk budget of 2 calls: two pages, then the budget is spent until midnight
    limiter = RateLimiter(per_minute=1000, daily_budget=2, namespace="pull-day", bulk_daily_share=1.0)
    limiter.reset()
    out = pull_entity("products", client=ZohoClient(limiter=limiter, acquire_timeout=bulk.BULK_ACQUIRE_TIMEOUT))
    assert out["status"] == "rate_limited" and out["pages"] == 2 and out["api_calls"] == 2
    run = run_row(db, out["run_id"])
    assert run.status == "rate_limited" and "budget" in run.error_message and run.finished_at is not None
    recorded = [e[0] for e in events(db, "products")]
    assert len(recorded) == len(set(recorded)) == 19

    again = pull_entity("products")
    assert again["status"] == "completed"
    ids = [e[0] for e in events(db, "products")]
    assert sorted(ids) == sorted(r["item_id"] for r in items)  # every item once: resumed, not restarted
    drain(db)
    assert product_rows(db) == sandbox_products(zoho)


# -- warehouses: the list lives at /locations on current organisations, elsewhere on older ones ---

def test_warehouses_are_pulled_from_locations_or_from_the_legacy_warehouses_list(zoho, db, monkeypatch):
    monkeypatch.setattr(bulk, "_RESOLVED", {})
    out = pull_entity("warehouses", full=True)
    assert out["status"] == "completed" and out["failed"] == 0
    drain(db)
    current = {r.get("location_id") or r.get("warehouse_id") for r in zoho.records("warehouses")}
    rows = {r[0] for r in q(db, "SELECT zoho_warehouse_id FROM warehouses")}
    assert rows and rows == current
    assert bulk._RESOLVED["inventory:/locations"].path == "/locations"

    # an older organisation: /locations answers "Invalid URL", the legacy list is found and used
    monkeypatch.setattr(bulk, "_RESOLVED", {})
    zoho.reset(legacy_warehouses=True)
    before = zoho.calls()
    again = pull_entity("warehouses", full=True)
    spent = calls_delta(before, zoho.calls())
    assert again["status"] == "completed" and again["failed"] == 0
    assert again["seen_by"] == {"warehouses": len(rows)} and again["deleted"] == 0 and not again["missed_by"]
    drain(db)
    assert bulk._RESOLVED["inventory:/locations"].path == "/settings/warehouses"
    # one probe of the legacy path, then the list itself (the refused /locations is not a counted call)
    assert spent == {"/inventory/v1/settings/warehouses": 2}, spent
    legacy = dict(q(db, "SELECT zoho_warehouse_id, is_active FROM warehouses"))
    assert legacy == {zid: True for zid in rows}  # the same warehouses, whichever list they came from

    # an ERP that lost them gets them back from the legacy list (before: no row was ever recorded from it)
    q(db, "DELETE FROM warehouses RETURNING 1")
    first = pull_entity("warehouses", full=True)
    assert first["changed_by"] == {"warehouses": len(rows)}
    drain(db)
    assert {r[0] for r in q(db, "SELECT zoho_warehouse_id FROM warehouses WHERE is_active")} == rows


def test_a_pulled_record_with_a_nul_character_is_counted_failed_and_holds_the_cursor_the_rest_lands(zoho, db):
    items = zoho.records("products")
    bad = items[0]["item_id"]
    zoho.touch("products", bad, name="broken\x00name")
    out = pull_entity("products")
    assert out["status"] == "completed" and out["failed"] == 2  # products and stock read the same row
    recorded = {e[0] for e in events(db, "products")}
    assert bad not in recorded and recorded == {r["item_id"] for r in items} - {bad}
    run = run_row(db, out["run_id"])
    assert run.failed == 2
    broken = next(r for r in zoho.records("products") if r["item_id"] == bad)
    assert cursor(db, "products") <= lmt(broken)  # never past the row that could not be recorded
    zoho.touch("products", bad, name="fixed name")  # Zoho corrected: the next pull takes it
    again = pull_entity("products")
    assert again["failed"] == 0 and bad in {e[0] for e in events(db, "products")}


# -- 7. fair pulls: a chain of page tasks -----------------------------------------------------------

def _take_bulk_message(redis_client) -> tuple[str, list, dict] | None:
    """The next message a bulk worker would take (first-served priority list first), decoded."""
    import base64

    for key in ("bulk", "bulk\x06\x163", "bulk\x06\x166", "bulk\x06\x169"):
        raw = redis_client.rpop(key)
        if raw is not None:
            msg = json.loads(raw)
            args, kwargs, _ = json.loads(base64.b64decode(msg["body"]))
            return msg["headers"]["task"], args, kwargs
    return None


def _work_bulk_queue(redis_client, limit: int = 2000) -> list[str]:
    """Run bulk messages one at a time, as a one-slot worker would; the entity of each step run."""
    ran = []
    for _ in range(limit):
        taken = _take_bulk_message(redis_client)
        if taken is None:
            return ran
        name, args, kwargs = taken
        task = {"bulk.pull": bulk.pull, "bulk.pull_page": bulk.pull_page}[name]
        out = task.run(*args, **kwargs)
        ran.append(out.get("entity") or name)
    raise AssertionError("the bulk queue never emptied")


def test_a_pull_task_does_one_page_and_chains_the_next_so_another_entitys_pull_starts_at_once(zoho, db, redis_client,
                                                                                            monkeypatch):
    monkeypatch.setattr(zoho_client, "PER_PAGE", 5)
    first = bulk.pull.run("products")
    assert first["status"] == "running"  # one page done, the rest chained
    (run,) = q(db, "SELECT id, page_state FROM tds_sync_runs WHERE entity_type = 'products'")
    assert run.page_state["step"] == 1 and run.page_state["key_cursor"] > bulk.KEYSET_FLOOR.isoformat()
    assert redis_client.llen("bulk") == 1  # the next page, not the whole pull, waits in the queue

    other = bulk.pull.run("customers")  # asked for while the products pull runs: it starts now
    assert other["status"] == "running"
    order = _work_bulk_queue(redis_client)
    assert set(order) == {"products", "customers"}
    switches = sum(1 for a, b in itertools.pairwise(order) if a != b)
    assert switches >= 4  # the two chains took turns, page by page
    runs = q(db, "SELECT entity_type, status, page_state FROM tds_sync_runs ORDER BY id")
    assert [(r.entity_type, r.status, r.page_state) for r in runs] == [("products", "completed", None),
                                                                       ("customers", "completed", None)]
    drain(db)
    assert product_rows(db) == sandbox_products(zoho)


def test_a_full_pull_chained_page_by_page_still_sweeps_deleted_records(zoho, db, redis_client, monkeypatch):
    pull_entity("products")
    drain(db)
    gone = zoho.records("products")[3]["item_id"]
    zoho.delete("products", gone)
    monkeypatch.setattr(zoho_client, "PER_PAGE", 7)
    bulk.pull.run("products", full=True)
    _work_bulk_queue(redis_client)
    (run,) = q(db, "SELECT status, deleted, page_state FROM tds_sync_runs WHERE kind = 'full'")
    assert (run.status, run.deleted, run.page_state) == ("completed", 1, None)
    assert q(db, "SELECT count(*) FROM tds_sync_run_seen")[0][0] == 0  # the seen ids go with the run
    drain(db)
    assert q(db, "SELECT is_active FROM products WHERE zoho_item_id = :z", z=gone) == [(False,)]


def test_a_page_message_delivered_twice_runs_its_step_once(zoho, db, redis_client, monkeypatch):
    monkeypatch.setattr(zoho_client, "PER_PAGE", 5)
    bulk.pull.run("products")
    (run_id,) = q(db, "SELECT id FROM tds_sync_runs")[0]
    before = zoho.calls()
    assert bulk.pull_page.run(run_id, 1)["status"] == "running"
    assert bulk.pull_page.run(run_id, 1)["status"] == "gone"  # the duplicate finds the step done
    assert calls_delta(before, zoho.calls()) == {ITEMS: 1}


def test_a_reconcile_task_runs_as_a_chain_and_stores_zoho_vs_erp(zoho, db, redis_client, monkeypatch):
    pull_entity("customers")
    drain(db)
    monkeypatch.setattr(zoho_client, "PER_PAGE", 10)
    from tasks import reconcile

    assert reconcile.reconcile.run("customers")["status"] == "running"
    _work_bulk_queue(redis_client)
    (row,) = q(db, "SELECT zoho_count, missing, stale, extra, match_pct FROM tds_reconcile_results")
    assert (row.zoho_count, row.missing, row.stale, row.extra) == (len(zoho.records("customers")), 0, 0, 0)
    assert str(row.match_pct) == "100.00"
    latest = {r["entity"]: r for r in reconcile.latest_results()}
    assert latest["customers"]["match_pct"] == "100.00" and latest["invoices"]["last_reconciled_at"] is None


def test_a_chained_step_that_fails_transiently_runs_again_and_the_pull_completes(zoho, db, redis_client, monkeypatch):
    """A sandbox (or Zoho) not answering for a moment costs a retry of the step, not the run."""
    monkeypatch.setattr(zoho_client, "PER_PAGE", 5)
    monkeypatch.setattr(bulk, "TRANSIENT_BACKOFF_SECONDS", 0)
    original = zoho_client.ZohoClient.fetch_page
    failures = iter([True, True])

    def flaky(self, *args, **kwargs):
        if next(failures, False):
            raise TransientError("Zoho accounts server unreachable (ConnectionError)")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(zoho_client.ZohoClient, "fetch_page", flaky)
    assert bulk.pull.run("customers")["status"] == "retry"
    _work_bulk_queue(redis_client)
    (run,) = q(db, "SELECT status, page_state FROM tds_sync_runs")
    assert (run.status, run.page_state) == ("completed", None)
    drain(db)
    assert customer_rows(db) == sandbox_customers(zoho)

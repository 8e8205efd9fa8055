"""Bulk pulls of the five later entities against the sandbox over real HTTP, PostgreSQL and Redis:
a first pull lands every record with its lines, a second one fetches no detail, a full pull sweeps deletions."""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from tasks.bulk import pull_entity
from tasks.reconcile import reconcile_entity
from tests.tasks.bulk_support import Zoho, calls_delta, drain, point_client_at, q
from zoho_sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox_server():
    with SandboxServer(scale=0.02, seed=42, rate_limit=100000, daily_limit=10_000_000) as server:
        yield server


@pytest.fixture
def zoho(sandbox_server, db, redis_client, monkeypatch) -> Zoho:
    z = Zoho(sandbox_server.url)
    z.reset()
    point_client_at(monkeypatch, sandbox_server.url)
    return z


@dataclass(frozen=True)
class Pulled:
    entity: str
    table: str
    key: str
    id_field: str
    list_path: str
    detail_path: str | None
    lines: str | None  # the sandbox record's child list
    line_table: str | None
    fk: str | None


PULLED = [
    Pulled("vendor-credits", "vendor_credits", "zoho_vendor_credit_id", "vendor_credit_id", "/books/v3/vendorcredits",
           "/books/v3/vendorcredits/{id}", "line_items", "vendor_credit_line_items", "vendor_credit_id"),
    Pulled("composite-items", "composite_items", "zoho_composite_item_id", "composite_item_id",
           "/inventory/v1/compositeitems", "/inventory/v1/compositeitems/{id}", "mapped_items",
           "composite_item_components", "composite_item_id"),
    Pulled("inventory-adjustments", "inventory_adjustments", "zoho_inventory_adjustment_id", "inventory_adjustment_id",
           "/inventory/v1/inventoryadjustments", "/inventory/v1/inventoryadjustments/{id}", "line_items",
           "inventory_adjustment_line_items", "inventory_adjustment_id"),
    Pulled("transfer-orders", "transfer_orders", "zoho_transfer_order_id", "transfer_order_id",
           "/inventory/v1/transferorders", "/inventory/v1/transferorders/{id}", "line_items",
           "transfer_order_line_items", "transfer_order_id"),
    Pulled("item-groups", "item_groups", "zoho_group_id", "group_id", "/inventory/v1/itemgroups", None, None,
           None, None),
]
by_entity = pytest.mark.parametrize("p", PULLED, ids=[p.entity for p in PULLED])


def erp_lines(db, p: Pulled) -> dict[str, int]:
    rows = q(db, f"SELECT h.{p.key}, count(l.id) FROM {p.table} h LEFT JOIN {p.line_table} l ON l.{p.fk} = h.id "
                 f"GROUP BY h.{p.key}")
    return dict(rows)


@by_entity
def test_a_first_pull_lands_every_record_with_its_lines_and_the_erp_equals_the_sandbox(zoho, db, p):
    records = zoho.records(p.entity)
    assert records
    before = zoho.calls()
    out = pull_entity(p.entity)
    spent = calls_delta(before, zoho.calls())
    assert out["status"] == "completed" and out["failed"] == 0 and out["changed"] == len(records)
    expected_calls = {p.list_path: 1} | ({p.detail_path: len(records)} if p.detail_path else {})
    assert spent == expected_calls
    drain(db)
    stored = dict(q(db, f"SELECT {p.key}, is_active AND zoho_last_modified_at IS NOT NULL FROM {p.table}"))
    assert stored == {r[p.id_field]: r.get("status") != "inactive" for r in records}  # an inactive one is kept off
    if p.lines:
        assert erp_lines(db, p) == {r[p.id_field]: len(r[p.lines]) for r in records}
    assert q(db, "SELECT count(*) FROM tds_sync_queue WHERE entity_type = :e AND status <> 'completed'",
             e=p.entity)[0][0] == 0


@by_entity
def test_a_second_pull_with_nothing_changed_fetches_no_detail_and_records_nothing(zoho, db, p):
    pull_entity(p.entity)
    drain(db)
    before = zoho.calls()
    out = pull_entity(p.entity)
    assert calls_delta(before, zoho.calls()) == {p.list_path: 1}
    assert out["changed"] == 0


@pytest.mark.parametrize("p", [PULLED[0], PULLED[1]], ids=[PULLED[0].entity, PULLED[1].entity])
def test_an_edit_is_pulled_and_a_deletion_is_swept_by_the_full_pull(zoho, db, p):
    pull_entity(p.entity)
    drain(db)
    edited, gone = [r[p.id_field] for r in zoho.records(p.entity)][:2]
    zoho.touch(p.entity, edited)
    zoho.delete(p.entity, gone)

    out = pull_entity(p.entity, full=True)
    assert out["changed_by"] == {p.entity: 1} and out["deleted_by"] == {p.entity: 1}
    drain(db)
    assert q(db, f"SELECT is_active FROM {p.table} WHERE {p.key} = :z", z=gone)[0][0] is False
    touched = next(r for r in zoho.records(p.entity) if r[p.id_field] == edited)
    raw = q(db, f"SELECT raw FROM {p.table} WHERE {p.key} = :z", z=edited)[0][0]
    assert raw["last_modified_time"] == touched["last_modified_time"]


@pytest.mark.parametrize("p", [PULLED[0], PULLED[4]], ids=[PULLED[0].entity, PULLED[4].entity])
def test_reconcile_finds_nothing_after_a_pull_and_repairs_a_missing_a_stale_and_an_extra_row(zoho, db, p):
    pull_entity(p.entity)
    drain(db)
    clean = reconcile_entity(p.entity)
    assert clean["differences"] == 0 and clean["enqueued"] == 0

    ids = sorted(r[p.id_field] for r in zoho.records(p.entity))
    deleted, aged = ids[0], ids[1]
    with db.begin() as c:
        c.exec_driver_sql(f"DELETE FROM {p.table} WHERE {p.key} = %s", (deleted,))
        c.exec_driver_sql(f"UPDATE {p.table} SET zoho_last_modified_at = zoho_last_modified_at - interval '1 day' "
                          f"WHERE {p.key} = %s", (aged,))
        c.exec_driver_sql(f"INSERT INTO {p.table} ({p.key}, is_active, zoho_last_modified_at, last_synced_at) "
                          "VALUES ('1999999999999999999', true, now() - interval '2 days', now() - interval '1 day')")

    report = reconcile_entity(p.entity)
    assert (report["missing"], report["stale"], report["extra_in_erp"]) == (1, 1, 1)
    drain(db)
    assert q(db, f"SELECT count(*) FROM {p.table} WHERE {p.key} = :z", z=deleted)[0][0] == 1
    assert q(db, f"SELECT is_active FROM {p.table} WHERE {p.key} = '1999999999999999999'")[0][0] is False
    assert reconcile_entity(p.entity)["differences"] == 0

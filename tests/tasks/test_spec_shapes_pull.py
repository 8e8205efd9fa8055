"""Pulls from the sandbox (which speaks Zoho's spec shapes) file contacts by type and keep every new column."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tasks.bulk import pull_entity
from tests.tasks.bulk_support import Zoho, drain, point_client_at, q
from zoho_sandbox.server import SandboxServer


@pytest.fixture(scope="module")
def sandbox_server():
    with SandboxServer(scale=0.1, seed=42, rate_limit=100000, daily_limit=10_000_000) as server:
        yield server


@pytest.fixture
def zoho(sandbox_server, db, redis_client, monkeypatch) -> Zoho:
    z = Zoho(sandbox_server.url)
    z.reset()
    point_client_at(monkeypatch, sandbox_server.url)
    return z


def test_pulling_customers_files_both_contacts_in_vendors_too(zoho, db):
    both = [c for c in zoho.records("vendors") if c["contact_type"] == "both"]
    assert both
    pull_entity("customers")
    drain(db)
    vendors = {r[0]: r[1] for r in q(db, "SELECT zoho_contact_id, contact_type FROM vendors")}
    assert vendors == {c["contact_id"]: "both" for c in both}  # only the both ones: it was the customers pull
    customers = q(db, "SELECT count(*) FROM customers WHERE contact_type = 'customer'")[0][0]
    assert customers == sum(1 for c in zoho.records("customers") if c["contact_type"] == "customer")
    # List rows carry no contact_persons[] (Zoho's list is a summary): persons come with webhooks and details.
    assert q(db, "SELECT count(*) FROM contact_persons")[0][0] == 0


def test_a_contact_webhook_after_the_pull_brings_its_persons(zoho, db):
    from tests.zoho.transformers.support import sync

    pull_entity("vendors")
    drain(db)
    contact = next(c for c in zoho.records("vendors") if c["contact_type"] == "both")
    sync("contacts", {"contact": contact})
    persons = q(db, "SELECT zoho_contact_id FROM contact_persons")
    assert len(persons) == len(contact["contact_persons"]) and {p[0] for p in persons} == {contact["contact_id"]}
    named = q(db, "SELECT count(*) FROM customers WHERE zoho_contact_id = :i AND contact_person_name IS NOT NULL",
              i=contact["contact_id"])[0][0]
    assert named == 1


def test_pulled_purchase_documents_keep_array_addresses_locations_and_inclusive_tax(zoho, db):
    pull_entity("purchase-orders")
    pull_entity("bills")
    pull_entity("sales-orders")
    drain(db)
    with db.connect() as c:
        arrays = c.execute(text("SELECT count(*) FROM purchase_orders WHERE jsonb_typeof(raw->'billing_address') "
                                "= 'array' AND billing_city IS NOT NULL")).scalar()
        inclusive = c.execute(text("SELECT count(*) FROM bills WHERE is_inclusive_tax")).scalar()
        lines = c.execute(text("SELECT count(*), count(zoho_location_id), count(rate) FROM bill_line_items")).one()
        percent = c.execute(text("SELECT count(*) FROM sales_orders WHERE discount_type = 'percentage' "
                                 "AND discount_amount > 0")).scalar()
        branches = c.execute(text("SELECT count(*) FROM sales_orders "
                                  "WHERE custom_fields->>'Branch' IS NOT NULL")).scalar()
    assert arrays > 0 and inclusive > 0 and percent > 0 and branches > 0
    assert lines[0] == lines[1] == lines[2] > 0

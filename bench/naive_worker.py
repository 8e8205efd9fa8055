"""Naive worker floor: a Celery task that reads the row, maps a handful of fields, does one upsert.

A product is one upsert; an invoice is one header upsert and its lines replaced by one
multi-row insert (the least that keeps a document's lines right).

Same broker, same concurrency as the real worker; no claim, no freshness guard, no audit,
no dead letters — the least a worker can do while still applying an event.
"""
from __future__ import annotations

import os

from celery import Celery
from celery.signals import worker_process_init
from sqlalchemy import create_engine, text

celery = Celery("naive", broker=os.environ["CELERY_BROKER_URL"])
celery.conf.update(task_serializer="json", accept_content=["json"], task_acks_late=True,
                   worker_prefetch_multiplier=4, task_ignore_result=True)
engine = create_engine(os.environ["DATABASE_URL"], pool_size=2)


@worker_process_init.connect
def _fresh(**_):
    engine.dispose(close=False)


def ensure_tables() -> None:
    with engine.begin() as c:
        c.execute(text("SELECT pg_advisory_xact_lock(4243)"))
        c.execute(text("CREATE TABLE IF NOT EXISTS bench_naive_events (id bigserial PRIMARY KEY, entity text, "
                       "payload jsonb, created_at timestamptz DEFAULT now())"))
        c.execute(text("CREATE TABLE IF NOT EXISTS bench_naive_products (zoho_item_id text PRIMARY KEY, name text, "
                       "sku text, unit_price numeric, done_at timestamptz)"))
        c.execute(text("CREATE TABLE IF NOT EXISTS bench_naive_invoices (zoho_invoice_id text PRIMARY KEY, "
                       "invoice_number text, customer_id text, total numeric, done_at timestamptz)"))
        c.execute(text("CREATE TABLE IF NOT EXISTS bench_naive_invoice_lines (line_item_id text PRIMARY KEY, "
                       "zoho_invoice_id text, item_id text, quantity numeric, rate numeric)"))


@celery.task(name="naive.process", shared=False)  # registered on this app only, not on every app in the process
def process(event_id: int) -> None:
    with engine.begin() as c:
        payload = c.execute(text("SELECT payload FROM bench_naive_events WHERE id = :i"), {"i": event_id}).scalar()
        if "invoice" in payload:
            _invoice(c, payload["invoice"])
            return
        item = payload.get("item", payload)
        c.execute(
            text("INSERT INTO bench_naive_products (zoho_item_id, name, sku, unit_price, done_at) "
                 "VALUES (:z, :n, :s, :p, now()) ON CONFLICT (zoho_item_id) DO UPDATE SET name = EXCLUDED.name, "
                 "sku = EXCLUDED.sku, unit_price = EXCLUDED.unit_price, done_at = now()"),
            {"z": str(item["item_id"]), "n": item.get("name"), "s": item.get("sku"), "p": item.get("rate") or None},
        )


def _invoice(c, inv: dict) -> None:
    """A document: one header upsert, its line set replaced in one multi-row insert."""
    zid = str(inv["invoice_id"])
    c.execute(
        text("INSERT INTO bench_naive_invoices (zoho_invoice_id, invoice_number, customer_id, total, done_at) "
             "VALUES (:z, :n, :c, :t, now()) ON CONFLICT (zoho_invoice_id) DO UPDATE SET "
             "invoice_number = EXCLUDED.invoice_number, customer_id = EXCLUDED.customer_id, "
             "total = EXCLUDED.total, done_at = now()"),
        {"z": zid, "n": inv.get("invoice_number"), "c": inv.get("customer_id"), "t": inv.get("total") or None},
    )
    c.execute(text("DELETE FROM bench_naive_invoice_lines WHERE zoho_invoice_id = :z"), {"z": zid})
    lines = inv.get("line_items") or []
    if lines:
        c.execute(
            text("INSERT INTO bench_naive_invoice_lines (line_item_id, zoho_invoice_id, item_id, quantity, rate) "
                 "VALUES " + ", ".join(f"(:l{i}, :z, :it{i}, :q{i}, :r{i})" for i in range(len(lines)))),
            {"z": zid, **{k: v for i, line in enumerate(lines) for k, v in (
                (f"l{i}", str(line["line_item_id"])), (f"it{i}", str(line.get("item_id"))),
                (f"q{i}", line.get("quantity") or None), (f"r{i}", line.get("rate") or None))}},
        )

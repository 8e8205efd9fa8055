"""Naive worker floor: a Celery task that reads the row, maps a handful of fields, does one upsert.

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


@celery.task(name="naive.process")
def process(event_id: int) -> None:
    with engine.begin() as c:
        payload = c.execute(text("SELECT payload FROM bench_naive_events WHERE id = :i"), {"i": event_id}).scalar()
        item = payload.get("item", payload)
        c.execute(
            text("INSERT INTO bench_naive_products (zoho_item_id, name, sku, unit_price, done_at) "
                 "VALUES (:z, :n, :s, :p, now()) ON CONFLICT (zoho_item_id) DO UPDATE SET name = EXCLUDED.name, "
                 "sku = EXCLUDED.sku, unit_price = EXCLUDED.unit_price, done_at = now()"),
            {"z": str(item["item_id"]), "n": item.get("name"), "s": item.get("sku"), "p": item.get("rate") or None},
        )

"""Naive ingest floor: parse JSON, one INSERT, one Celery publish, answer 202.

No signature, no validation, no dedupe — the least a receiver can do while still
recording and publishing. Run under the same gunicorn settings as the real receiver.
"""
from __future__ import annotations

import json
import os

from celery import Celery
from flask import Flask, request
from sqlalchemy import create_engine, text

engine = create_engine(os.environ["DATABASE_URL"], pool_size=5, max_overflow=10)
celery = Celery("naive", broker=os.environ["CELERY_BROKER_URL"])
celery.conf.task_serializer = "json"

app = Flask(__name__)

with engine.begin() as conn:
    conn.execute(text("SELECT pg_advisory_xact_lock(4242)"))  # gunicorn workers boot concurrently
    conn.execute(text("CREATE TABLE IF NOT EXISTS bench_naive_events (id bigserial PRIMARY KEY, entity text, "
                      "payload jsonb, created_at timestamptz DEFAULT now())"))


@app.post("/api/zoho/webhooks/<entity>")
def receive(entity):
    body = json.loads(request.get_data())
    with engine.begin() as conn:
        event_id = conn.execute(text("INSERT INTO bench_naive_events (entity, payload) VALUES (:e, CAST(:p AS jsonb)) "
                                     "RETURNING id"), {"e": entity, "p": json.dumps(body)}).scalar()
    celery.send_task("naive.process", args=[event_id], queue="bench.naive")
    return {"status": "queued", "event_id": event_id}, 202

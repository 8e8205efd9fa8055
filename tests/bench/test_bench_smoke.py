"""The bench's floors answer and its table reads right (no timing: figures live in `make bench`)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import text

from bench.table import Figure, markdown, plain


def test_the_table_shows_ours_beside_the_floor_with_ratio_and_verdict():
    figures = [Figure("ingest req/s", "650", "700", 650 / 700, "≥ 0.90×", True),
               Figure("worker events/s", "290", "460", 290 / 460, "≥ 1.00×", False),
               Figure("burst", "70 s", "45 s", None, "reported", None)]
    md = markdown(figures).splitlines()
    assert md[0] == "| figure | ours | floor | ratio | target | pass/fail |"
    assert md[2] == "| ingest req/s | 650 | 700 | 0.93× | ≥ 0.90× | pass |"
    assert md[3].endswith("| 0.63× | ≥ 1.00× | FAIL |")
    assert md[4] == "| burst | 70 s | 45 s | — | reported | — |"
    rows = plain(figures).splitlines()
    assert len(rows) == 5 and rows[0].startswith("figure") and set(rows[1]) <= {"-", " "}


@pytest.fixture
def naive_tables(db):
    """The floors' tables exist only during the test: the migrations test expects exactly the models' tables."""
    yield db
    with db.begin() as c:
        c.execute(text("DROP TABLE IF EXISTS bench_naive_events, bench_naive_products, bench_naive_invoices, "
                       "bench_naive_invoice_lines"))


def test_the_naive_floors_record_publish_and_apply(naive_tables, redis_client):
    db = naive_tables
    from bench import naive_worker
    from bench.naive_ingest import app
    from bench.payloads import invoice, product

    naive_worker.ensure_tables()
    item = product(1, salt=7)
    answer = app.test_client().post("/api/zoho/webhooks/products", data=json.dumps({"item": item}),
                                    content_type="application/json")
    assert answer.status_code == 202
    assert redis_client.llen("bench.naive") == 1
    naive_worker.process.run(answer.get_json()["event_id"])

    doc = invoice(1, salt=7)
    with db.begin() as c:
        event_id = c.execute(text("INSERT INTO bench_naive_events (entity, payload) VALUES ('invoices', "
                                  "CAST(:p AS jsonb)) RETURNING id"), {"p": json.dumps({"invoice": doc})}).scalar()
    naive_worker.process.run(event_id)
    with db.connect() as c:
        assert c.execute(text("SELECT sku FROM bench_naive_products WHERE zoho_item_id = :z"),
                         {"z": item["item_id"]}).scalar() == item["sku"]
        assert c.execute(text("SELECT count(*) FROM bench_naive_invoice_lines WHERE zoho_invoice_id = :z"),
                         {"z": doc["invoice_id"]}).scalar() == 5

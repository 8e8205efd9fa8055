"""Fault run: workers SIGKILLed, Redis restarted empty, PostgreSQL restarted — under webhook load.

Private PostgreSQL and Redis (own ports, own data dirs under a temp dir) are started for
this test so killing them never disturbs the machine's shared services. The load
generator behaves like Zoho: each webhook is re-sent until it gets a 2xx. With beat
running and no manual step, every accepted event must end `completed`, each product row
must reflect its newest version, and no event may be applied twice.
"""
from __future__ import annotations

import json
import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from sqlalchemy import create_engine, text

from tests.support.procs import ROOT, Process, child_env, free_port, start_receiver, start_worker, wait_for
from tests.support.webhooks import sign

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

PRODUCTS = int(os.environ.get("CHAOS_PRODUCTS", "500"))
VERSIONS = int(os.environ.get("CHAOS_VERSIONS", "5"))
RATE = float(os.environ.get("CHAOS_RATE", "200"))
CONVERGE_SECONDS = 300


@pytest.fixture
def private_services(tmp_path):
    from scripts import ensure_services as es

    pg_port, redis_port = free_port(), free_port()
    pg = es.start_private_postgres(tmp_path / "pg", pg_port)
    rd = es.start_private_redis(tmp_path / "redis", redis_port)
    yield {"es": es, "dir": tmp_path, "pg_port": pg_port, "redis_port": redis_port, "pg": pg, "redis": rd,
           "db_url": f"postgresql+psycopg2://postgres@127.0.0.1:{pg_port}/zohosync",
           "broker_url": f"redis://127.0.0.1:{redis_port}/0"}
    es.stop_private_redis(tmp_path / "redis", redis_port)
    es.stop_private_postgres(tmp_path / "pg", pg_port)


def _versions():
    """PRODUCTS × VERSIONS webhook bodies, shuffled so versions arrive out of order."""
    bodies = []
    for p in range(PRODUCTS):
        zid = f"26466100000{p:08d}"
        for v in range(VERSIONS):
            rec = {"item_id": zid, "name": f"product {p} v{v}", "rate": f"{p}.{v:02d}", "status": "active",
                   "last_modified_time": f"2025-11-04T10:{v:02d}:00+0300"}
            bodies.append((zid, v, json.dumps({"item": rec}).encode()))
    random.Random(7).shuffle(bodies)
    return bodies


class Zoho:
    """Sends each webhook until it is accepted (as Zoho retries), counting what happened."""

    def __init__(self, url: str):
        self.url = url
        self.accepted: dict[int, tuple[str, int]] = {}
        self.duplicates = 0
        self.refused = 0
        self.lock = threading.Lock()
        self.session = requests.Session()
        self.session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=32, pool_maxsize=32))

    def send(self, item) -> None:
        zid, version, body = item
        headers = {"Content-Type": "application/json",
                   "X-Zoho-Webhook-Signature": sign(body, {"entity": "products"})}
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            try:
                r = self.session.post(self.url, data=body, headers=headers, timeout=10)
                if r.status_code in (200, 202):
                    with self.lock:
                        if r.status_code == 202:
                            self.accepted[r.json()["event_id"]] = (zid, version)
                        else:
                            self.duplicates += 1
                    return
                with self.lock:
                    self.refused += 1
            except requests.RequestException:
                with self.lock:
                    self.refused += 1
            time.sleep(0.5)
        raise AssertionError("a webhook was never accepted")


def test_every_accepted_event_completes_exactly_once_through_kills_and_restarts(private_services, tmp_path):
    svc = private_services
    es = svc["es"]
    env = child_env(DATABASE_URL=svc["db_url"], CELERY_BROKER_URL=svc["broker_url"],
                    SYNC_ORPHAN_AFTER_SECONDS="10", ZOHOSYNC_ENV_FILE="/nonexistent/.env")
    import subprocess

    subprocess.run([str(Path(os.sys.executable).parent / "alembic"), "upgrade", "head"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    port = free_port()
    web = start_receiver(env, port)
    worker = start_worker(env, "chaos1")
    beat = Process("beat", [str(Path(os.sys.executable).parent / "celery"), "-A", "tasks", "beat", "-l", "info",
                            "-s", str(tmp_path / "beat-schedule")], env)
    zoho = Zoho(f"http://127.0.0.1:{port}/api/zoho/webhooks/products?entity=products")
    bodies = _versions()
    faults: list[str] = []

    def chaos():
        nonlocal worker
        time.sleep(4)
        worker.kill()  # SIGKILL the whole worker process group
        faults.append("worker SIGKILLed")
        time.sleep(1)
        worker = start_worker(env, "chaos2")
        time.sleep(3)
        es.restart_private_redis(tmp_path / "redis", svc["redis_port"])  # no persistence: every message gone
        faults.append("redis restarted empty")
        time.sleep(4)
        es.restart_private_postgres(tmp_path / "pg", svc["pg_port"])
        faults.append("postgres restarted")

    started = time.monotonic()
    chaos_thread = threading.Thread(target=chaos)
    chaos_thread.start()
    try:
        with ThreadPoolExecutor(max_workers=24) as pool:
            futures = []
            for i, body in enumerate(bodies):
                delay = started + i / RATE - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(zoho.send, body))
            for f in futures:
                f.result()
        chaos_thread.join()
        load_done = time.monotonic()

        engine = create_engine(svc["db_url"])

        def converged():
            with engine.connect() as c:
                return c.execute(text("SELECT count(*) FROM tds_sync_queue WHERE status <> 'completed'")).scalar() == 0

        try:
            wait_for(converged, timeout=CONVERGE_SECONDS, interval=2, message="every event completed")
        except AssertionError:
            with engine.connect() as c:
                states = c.execute(text("SELECT status, count(*), max(retry_count), min(updated_at) "
                                        "FROM tds_sync_queue GROUP BY status")).all()
                errors = c.execute(text("SELECT error_message, count(*) FROM tds_sync_queue WHERE status <> "
                                        "'completed' GROUP BY 1 ORDER BY 2 DESC LIMIT 5")).all()
            raise AssertionError(f"not converged after {CONVERGE_SECONDS}s; faults={faults}; states={states}; "
                                 f"errors={errors}\n--- worker ---\n{worker.output()[-4000:]}"
                                 f"\n--- beat ---\n{beat.output()[-3000:]}") from None
        converge_seconds = time.monotonic() - load_done
        with engine.connect() as c:
            events = dict(c.execute(text("SELECT id, status FROM tds_sync_queue")).all())
            applied = c.execute(text("SELECT event_id, count(*) FROM tds_audit_trail WHERE action IN "
                                     "('applied', 'stale') GROUP BY event_id")).all()
            rows = {r.zoho_item_id: r for r in c.execute(text("SELECT zoho_item_id, name, unit_price FROM products"))}
        engine.dispose()
    finally:
        for proc in (beat, worker, web):
            proc.stop()

    lost = [e for e in zoho.accepted if events.get(e) != "completed"]
    twice = [e for e, n in applied if n > 1]
    report = {"webhooks": len(bodies), "accepted": len(zoho.accepted), "duplicates_answered": zoho.duplicates,
              "refused_then_retried": zoho.refused, "lost": len(lost), "applied_twice": len(twice),
              "converged_seconds_after_load": round(converge_seconds, 1), "faults": faults}
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "chaos-report.json").write_text(json.dumps(report, indent=2))
    print("chaos report:", json.dumps(report))

    assert len(zoho.accepted) + zoho.duplicates == len(bodies)
    assert lost == [] and twice == []
    assert len(faults) == 3
    assert len(rows) == PRODUCTS
    for zid, row in rows.items():
        p = int(zid[-8:])
        assert row.name == f"product {p} v{VERSIONS - 1}", zid
        assert str(row.unit_price) == f"{p}.{VERSIONS - 1:02d}0000"

"""Webhook load as Zoho sends it (re-sent until a 2xx), and the exactly-once check every fault test ends with."""
from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import text

from tests.support.webhooks import sign

HEALER_ENV = {"SYNC_ORPHAN_AFTER_SECONDS": "5", "SYNC_HEAL_INTERVAL_SECONDS": "3", "BEAT_MAX_LOOP_INTERVAL": "2",
              "SYNC_RELEASE_GRACE_SECONDS": "10"}
"""The production healing on a shorter clock, for the fault runs: a pending event is an orphan after 5 s (not 30),
the healer looks for orphans every 3 s (not 15), beat retakes its lock within 2 s (not 10) after the coordination
Redis restarts, and a dead worker's claim is released after 10 s (not 60). (More wake-ups of events whose message
still exists: more chances to apply one twice.)"""


def product_versions(products: int, versions: int, seed: int = 7) -> list[tuple[str, int, bytes]]:
    """products × versions webhook bodies, shuffled so versions arrive out of order."""
    bodies = []
    for p in range(products):
        zid = f"26466100000{p:08d}"
        for v in range(versions):
            rec = {"item_id": zid, "name": f"product {p} v{v}", "rate": f"{p}.{v:02d}", "status": "active",
                   "last_modified_time": f"2025-11-04T10:{v:02d}:00+0300"}
            bodies.append((zid, v, json.dumps({"item": rec}).encode()))
    random.Random(seed).shuffle(bodies)
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
        headers = {"Content-Type": "application/json", "X-Zoho-Webhook-Signature": sign(body)}
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

    def send_all(self, bodies, rate: float, threads: int = 24) -> None:
        """Send at `rate` webhooks per second (each retried until accepted); returns when all are accepted."""
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            futures = []
            for i, body in enumerate(bodies):
                delay = started + i / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                futures.append(pool.submit(self.send, body))
            for f in futures:
                f.result()


def outcome(engine, zoho: Zoho) -> dict:
    """Lost (accepted, not completed) and applied-twice events, and the products as they ended."""
    with engine.connect() as c:
        events = dict(c.execute(text("SELECT id, status FROM tds_sync_queue")).all())
        applied = c.execute(text("SELECT event_id, count(*) FROM tds_audit_trail WHERE action IN "
                                 "('applied', 'stale') GROUP BY event_id")).all()
        rows = {r.zoho_item_id: r for r in c.execute(text("SELECT zoho_item_id, name, unit_price FROM products"))}
    return {"lost": [e for e in zoho.accepted if events.get(e) != "completed"],
            "twice": [e for e, n in applied if n > 1], "rows": rows}


def unfinished(engine) -> int:
    with engine.connect() as c:
        return c.execute(text("SELECT count(*) FROM tds_sync_queue WHERE status <> 'completed'")).scalar()


def states(engine) -> list:
    with engine.connect() as c:
        return c.execute(text("SELECT status, count(*), max(retry_count), min(updated_at) "
                              "FROM tds_sync_queue GROUP BY status")).all()

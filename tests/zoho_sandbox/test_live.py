"""Live mode: background changes with webhooks, a deliberate drop share, silent deletes, all accounted for."""

from __future__ import annotations

import time
from collections import Counter

from tests.zoho_sandbox.conftest import Receiver, Zoho
from zoho_sandbox.data import parse_time


def _tick(zoho: Zoho, ticks: int, changes: int) -> list[dict]:
    response = zoho.control("POST", "/live/tick", json={"ticks": ticks, "changes": changes})
    assert response.status_code == 200
    return response.json()["changes"]


def test_every_change_is_sent_dropped_or_silent_and_accounted(zoho: Zoho, receiver: Receiver) -> None:
    zoho.configure(drop_rate=0.3)
    changes = _tick(zoho, ticks=20, changes=5)
    outcomes = Counter(c["webhook"] for c in changes)
    stats = zoho.stats()
    hooks, live = stats["webhooks"], stats["live"]
    assert live["changes"] == len(changes) == 100
    assert live["touches"] + live["creates"] + live["deletes"] == live["changes"]
    assert hooks["sent"] == outcomes["sent"] > 0
    assert hooks["dropped"] == outcomes["dropped"] > 0
    assert hooks["suppressed"] == outcomes["suppressed"] == live["silent_deletes"]
    assert hooks["sent"] + hooks["dropped"] + hooks["suppressed"] + hooks["failed"] == live["changes"]
    hits = receiver.all()
    assert len(hits) == hooks["sent"]
    assert all(h.signature_ok for h in hits)
    assert sum(v["dropped"] for v in hooks["by_entity"].values()) == hooks["dropped"]
    entities = Counter(c["entity"] for c in changes)
    assert entities["stock"] + entities["products"] > len(changes) / 4


def test_live_changes_show_up_in_incremental_pulls(zoho: Zoho) -> None:
    start = max(parse_time(r["last_modified_time"]) for r in zoho.records("products"))
    changes = _tick(zoho, ticks=5, changes=4)
    changed_items = {
        c["zoho_id"] for c in changes if c["entity"] in ("products", "stock") and c["operation"] == "upsert"
    }
    assert changed_items
    since = time.strftime("%Y-%m-%dT%H:%M:%S+0300", time.gmtime(start + 3 * 3600))
    pulled = {r["item_id"] for r in zoho.all_rows("/inventory/v1/items", "items", {"last_modified_time": since})}
    assert changed_items <= pulled
    for change in changes:
        if change["operation"] == "delete":
            assert zoho.control("GET", f"/records/{change['entity']}/{change['zoho_id']}").status_code == 404


def test_drop_rate_one_delivers_nothing(zoho: Zoho, receiver: Receiver) -> None:
    zoho.configure(drop_rate=1.0)
    changes = _tick(zoho, ticks=4, changes=5)
    assert receiver.all() == []
    stats = zoho.stats()
    assert stats["webhooks"]["sent"] == 0
    assert stats["webhooks"]["dropped"] + stats["webhooks"]["suppressed"] == len(changes)


def test_background_thread_runs_until_disabled(zoho: Zoho, receiver: Receiver) -> None:
    status = zoho.control("POST", "/live", json={"enabled": True, "interval": 0.05, "changes_per_tick": 2}).json()
    assert status["enabled"] is True
    deadline = time.monotonic() + 20
    while zoho.stats()["live"]["changes"] < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    status = zoho.control("POST", "/live", json={"enabled": False}).json()
    assert status["enabled"] is False and status["changes"] >= 10 and status["errors"] == 0
    settled = zoho.stats()["live"]["changes"]
    time.sleep(0.2)
    assert zoho.stats()["live"]["changes"] == settled
    hooks = zoho.stats()["webhooks"]
    assert len(receiver.all()) == hooks["sent"]
    assert all(h.signature_ok for h in receiver.all())


def test_reset_stops_live_mode(zoho: Zoho) -> None:
    zoho.control("POST", "/live", json={"enabled": True, "interval": 0.05})
    zoho.control("POST", "/reset", json={})
    assert zoho.control("GET", "/live").json()["enabled"] is False


def test_readers_and_live_writers_run_concurrently_without_errors(zoho: Zoho) -> None:
    import threading

    zoho.configure(webhook_url="")  # no receiver needed: counted as skipped
    zoho.control("POST", "/live", json={"enabled": True, "interval": 0.01, "changes_per_tick": 5})
    token = zoho.login()
    failures: list[str] = []

    def read(path: str, key: str) -> None:
        client = Zoho(zoho.base)
        client.token = token
        for _ in range(3):
            page = 1
            while True:
                response = client.get(path, {"page": page, "per_page": 100})
                if response.status_code != 200:
                    failures.append(f"{path}: {response.status_code} {response.text[:200]}")
                    return
                body = response.json()
                for row in body[key][:3]:
                    id_field = next(k for k in row if k.endswith("_id"))
                    detail = client.get(f"{path}/{row[id_field]}")
                    if detail.status_code not in (200, 404):  # 404: deleted meanwhile
                        failures.append(f"{path}/{row[id_field]}: {detail.status_code}")
                if not body["page_context"]["has_more_page"]:
                    break
                page += 1

    paths = [
        ("/inventory/v1/items", "items"),
        ("/books/v3/invoices", "invoices"),
        ("/books/v3/contacts", "contacts"),
        ("/books/v3/salesorders", "salesorders"),
    ]
    threads = [threading.Thread(target=read, args=p) for p in paths]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    status = zoho.control("POST", "/live", json={"enabled": False}).json()
    assert failures == []
    assert status["errors"] == 0 and status["changes"] > 0

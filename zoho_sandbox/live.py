"""Live mode: a background thread that keeps changing the organisation the way busy users do.

Every `interval` seconds it makes `changes_per_tick` changes across entities —
mostly product and stock edits, occasionally a new record or a deletion — and fires
each change's webhook at the receiver. A `drop_rate` share of webhooks is dropped on
purpose and some deletions send nothing at all, as Zoho does, so only the scheduled
pulls can catch them. `tick()` runs one round synchronously for tests and benches.
"""

from __future__ import annotations

import logging
import random
import threading
from typing import TYPE_CHECKING, Any

from zoho_sandbox.data import RecordNotFound

if TYPE_CHECKING:
    from zoho_sandbox.runtime import Sandbox

log = logging.getLogger(__name__)

#: How often each entity is edited, relative to the others.
TOUCH_WEIGHTS = {
    "stock": 30,
    "products": 24,
    "customers": 9,
    "invoices": 9,
    "sales-orders": 6,
    "payments": 4,
    "prices": 3,
    "bills": 3,
    "purchase-orders": 3,
    "vendors": 2,
    "credit-notes": 2,
    "warehouses": 1,
    # the later modules (zoho_sandbox/more.py)
    "inventory-adjustments": 1,
    "transfer-orders": 1,
    "composite-items": 1,
    "item-groups": 1,
    "vendor-credits": 1,
}
CREATE_WEIGHTS = {
    "products": 3,
    "customers": 4,
    "invoices": 5,
    "sales-orders": 3,
    "payments": 2,
    "purchase-orders": 1,
    "bills": 1,
    "credit-notes": 1,
    "inventory-adjustments": 1,
    "transfer-orders": 1,
    "vendor-credits": 1,
}
DELETE_WEIGHTS = {
    "products": 2,
    "customers": 3,
    "invoices": 3,
    "sales-orders": 3,
    "purchase-orders": 1,
    "credit-notes": 1,
    "bills": 1,
}
CREATE_SHARE = 0.06
DELETE_SHARE = 0.04
SILENT_DELETE_SHARE = 0.4


def _pick(rng: random.Random, weights: dict[str, int]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names], k=1)[0]


class LiveRunner:
    """Owns the live-mode thread; safe to start, stop and tick from any thread."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._control = threading.Lock()
        self._tick_lock = threading.Lock()
        self._stats_lock = threading.Lock()
        self._rng = random.Random(f"{sandbox.options.seed}:live")
        self.reset_stats()

    def reset_stats(self) -> None:
        with self._stats_lock:
            self._stats = {
                "ticks": 0,
                "changes": 0,
                "touches": 0,
                "creates": 0,
                "deletes": 0,
                "silent_deletes": 0,
                "errors": 0,
            }
        self._rng = random.Random(f"{self.sandbox.options.seed}:live")

    def stats(self) -> dict[str, Any]:
        with self._stats_lock:
            out = dict(self._stats)
        out["enabled"] = self.running
        out["interval"] = self.sandbox.options.interval
        out["changes_per_tick"] = self.sandbox.options.changes_per_tick
        return out

    def _count(self, **increments: int) -> None:
        with self._stats_lock:
            for k, v in increments.items():
                self._stats[k] += v

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        with self._control:
            if self.running:
                return
            self._stop = threading.Event()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="zoho-sandbox-live", daemon=True)
            self._thread.start()
            log.info(
                "live mode started: %s changes every %ss",
                self.sandbox.options.changes_per_tick,
                self.sandbox.options.interval,
            )

    def stop(self, timeout: float = 15.0) -> None:
        with self._control:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self.sandbox.options.interval):
            try:
                self.tick()
            except Exception:  # the thread must outlive one bad change; the error is counted and logged
                self._count(errors=1)
                log.exception("live tick failed")

    def tick(self, changes: int | None = None) -> list[dict[str, Any]]:
        """One round of changes; returns what happened to each (entity, operation, id, webhook outcome)."""
        n = self.sandbox.options.changes_per_tick if changes is None else int(changes)
        results = []
        with self._tick_lock:
            for _ in range(n):
                result = self._one_change()
                if result is not None:
                    results.append(result)
            self._count(ticks=1)
        return results

    def _one_change(self) -> dict[str, Any] | None:
        org = self.sandbox.org
        rng = self._rng
        roll = rng.random()
        if roll < CREATE_SHARE:
            entity = _pick(rng, CREATE_WEIGHTS)
            change = org.create(entity, rng=rng)
            delivery = self.sandbox.emit(change)
            self._count(changes=1, creates=1)
        elif roll < CREATE_SHARE + DELETE_SHARE:
            entity = _pick(rng, DELETE_WEIGHTS)
            referenced = org.referenced_ids()
            zoho_id = org.random_id(entity, rng, lambda r: self._deletable(r, referenced))
            if zoho_id is None:
                return None
            change = org.delete(entity, zoho_id)
            if rng.random() < SILENT_DELETE_SHARE:
                delivery = self.sandbox.suppress(change)
                self._count(silent_deletes=1)
            else:
                delivery = self.sandbox.emit(change)
            self._count(changes=1, deletes=1)
        else:
            entity = _pick(rng, TOUCH_WEIGHTS)
            predicate = (lambda r: r.get("product_type") == "goods") if entity == "stock" else None
            zoho_id = org.random_id(entity, rng, predicate)
            if zoho_id is None:
                return None
            try:
                change = org.touch(entity, zoho_id, rng=rng)
            except RecordNotFound:  # deleted by someone else between pick and edit
                return None
            delivery = self.sandbox.emit(change)
            self._count(changes=1, touches=1)
        return {
            "entity": change.entity,
            "operation": change.operation,
            "zoho_id": change.zoho_id,
            "webhook": delivery.outcome,
            "status_code": delivery.status_code,
        }

    @staticmethod
    def _deletable(record: dict[str, Any], referenced: set[str]) -> bool:
        """Zoho refuses to delete what other records point at; documents are deletable as drafts or unreferenced."""
        for id_field in (
            "item_id",
            "contact_id",
            "invoice_id",
            "bill_id",
            "creditnote_id",
            "salesorder_id",
            "purchaseorder_id",
        ):
            if id_field in record:
                return record[id_field] not in referenced
        return False

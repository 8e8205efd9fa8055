"""Helpers shared by the bulk-pull tests: a sandbox over real HTTP, draining the queue, ERP vs sandbox."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import requests
from sqlalchemy import text

from models.settings import reset_settings
from zoho.fields import to_datetime

ORG_ID = "748369814"
SANDBOX_ENV = {
    "ZOHO_CLIENT_ID": "sandbox-client-id",
    "ZOHO_CLIENT_SECRET": "sandbox-client-secret",
    "ZOHO_REFRESH_TOKEN": "sandbox-refresh-token",
    "ZOHO_ORGANIZATION_ID": ORG_ID,
    "ZOHO_RATE_LIMIT_PER_MINUTE": "100000",
    "ZOHO_DAILY_CALL_BUDGET": "1000000",
}


class Zoho:
    """The sandbox's control endpoints (not Zoho's API: no auth, not counted)."""

    def __init__(self, url: str):
        self.url = url

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        r = requests.request(method, f"{self.url}/sandbox{path}", timeout=30, **kwargs)
        assert r.status_code < 300, r.text
        return r

    def reset(self, **options: Any) -> None:
        self.control("POST", "/reset", json={"drop_tokens": True, **options})

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/stats").json()

    def calls(self) -> dict[str, int]:
        return dict(self.stats()["api_calls_by_path"])

    def records(self, entity: str) -> list[dict[str, Any]]:
        return self.control("GET", f"/records/{entity}").json()["records"]

    def touch(self, entity: str, zoho_id: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"webhook": False}
        if fields:
            body["fields"] = fields
        return self.control("POST", f"/records/{entity}/{zoho_id}/touch", json=body).json()

    def delete(self, entity: str, zoho_id: str) -> None:
        self.control("DELETE", f"/records/{entity}/{zoho_id}")

    def create(self, entity: str, record: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.control("POST", f"/records/{entity}", json={"record": record or {}, "webhook": False}).json()


def point_client_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    for key, value in {**SANDBOX_ENV, "ZOHO_API_BASE_URL": url, "ZOHO_ACCOUNTS_URL": url}.items():
        monkeypatch.setenv(key, value)
    reset_settings()


def calls_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}


def q(db, sql: str, **params: Any) -> list:
    with db.begin() as c:
        return c.execute(text(sql), params).all()


def drain(db, rounds: int = 20) -> int:
    """Apply every pending event through the same pipeline a worker runs (in this process)."""
    from tasks.pipeline import pipeline_for

    applied = 0
    for _ in range(rounds):
        rows = q(db, "SELECT entity_type, id FROM tds_sync_queue WHERE status IN ('pending', 'failed') ORDER BY id")
        if not rows:
            return applied
        by_entity: dict[str, list[int]] = {}
        for name, event_id in rows:
            by_entity.setdefault(name, []).append(event_id)
        for name, ids in by_entity.items():
            for i in range(0, len(ids), 200):
                pipeline_for(name).run(ids[i:i + 200], "test-drain")
                applied += len(ids[i:i + 200])
    raise AssertionError("queue did not drain")


def lmt(record: dict[str, Any]) -> dt.datetime:
    return to_datetime(record["last_modified_time"])


def _dec(value: Any) -> Decimal | None:
    return None if value in (None, "") else Decimal(str(value))


def product_rows(db) -> dict[str, tuple]:
    return {r[0]: tuple(r[1:]) for r in q(
        db, "SELECT zoho_item_id, name, sku, unit_price, cost_price, available_stock, is_active, zoho_last_modified_at "
            "FROM products WHERE is_active")}


def sandbox_products(zoho: Zoho) -> dict[str, tuple]:
    return {r["item_id"]: (r["name"], r.get("sku") or None, _dec(r.get("rate")), _dec(r.get("purchase_rate")),
                           _dec(r.get("available_stock")), r.get("status", "active") != "inactive", lmt(r))
            for r in zoho.records("products") if r.get("status", "active") != "inactive"}


def customer_rows(db) -> dict[str, tuple]:
    return {r[0]: tuple(r[1:]) for r in q(
        db, "SELECT zoho_contact_id, name, company_name, email, is_active, zoho_last_modified_at "
            "FROM customers WHERE is_active")}


def sandbox_customers(zoho: Zoho) -> dict[str, tuple]:
    return {r["contact_id"]: (r["contact_name"], r.get("company_name") or None, r.get("email") or None,
                              r.get("status", "active") != "inactive", lmt(r))
            for r in zoho.records("customers") if r.get("status", "active") != "inactive"}


def invoice_rows(db) -> dict[str, tuple]:
    return {r[0]: tuple(r[1:]) for r in q(
        db, "SELECT i.zoho_invoice_id, i.invoice_number, i.total, i.balance, i.zoho_last_modified_at, "
            "(SELECT count(*) FROM invoice_line_items l WHERE l.invoice_id = i.id) FROM invoices i WHERE i.is_active")}


def sandbox_invoices(zoho: Zoho) -> dict[str, tuple]:
    return {r["invoice_id"]: (r["invoice_number"], _dec(r["total"]), _dec(r["balance"]), lmt(r),
                              len(r.get("line_items") or []))
            for r in zoho.records("invoices")}

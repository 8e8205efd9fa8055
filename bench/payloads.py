"""Realistic, varied Zoho bodies for the bench: the sandbox organisation's own records with fresh ids.

Every body gets a unique record id and `last_modified_time`, so no request or event is a
duplicate of another (duplicates take a cheaper path and would flatter the figures).
"""
from __future__ import annotations

import copy
import datetime as dt
import json
import random
from functools import lru_cache
from typing import Any

ID_BASE = 2646619000000000000
LMT_BASE = dt.datetime(2025, 11, 4, 0, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))


@lru_cache(maxsize=1)
def _templates() -> tuple[list[dict], list[dict]]:
    from zoho_sandbox.app import create_sandbox_app

    client = create_sandbox_app().test_client()
    items = client.get("/sandbox/records/products").get_json()["records"]
    invoices = [i for i in client.get("/sandbox/records/invoices").get_json()["records"]
                if len(i.get("line_items") or []) == 5]
    return items, invoices


def _lmt(n: int) -> str:
    return (LMT_BASE + dt.timedelta(seconds=n)).strftime("%Y-%m-%dT%H:%M:%S+0300")


def run_salt() -> int:
    """A per-run offset so ids never meet a previous run's rows (belt and braces: tables are emptied)."""
    return random.randrange(1, 9_000) * 100_000_000


def product(n: int, salt: int = 0) -> dict[str, Any]:
    items, _ = _templates()
    item = copy.deepcopy(items[n % len(items)])
    item["item_id"] = str(ID_BASE + salt + n)
    item["sku"] = f"{item.get('sku') or 'SKU'}-B{salt + n}"
    item["last_modified_time"] = _lmt(n)
    return item


def invoice(n: int, salt: int = 0) -> dict[str, Any]:
    _, invoices = _templates()
    inv = copy.deepcopy(invoices[n % len(invoices)])
    inv["invoice_id"] = str(ID_BASE + salt + n)
    inv["invoice_number"] = f"INV-B{salt + n}"
    for k, line in enumerate(inv["line_items"]):
        line["line_item_id"] = str(ID_BASE + 500_000_000_000 + (salt + n) * 10 + k)
    inv["last_modified_time"] = _lmt(n)
    return inv


RECORD = {"products": ("item", product), "invoices": ("invoice", invoice)}


def body(entity: str, n: int, salt: int = 0) -> bytes:
    """The webhook body Zoho sends: compact UTF-8 JSON with the record under its module key."""
    key, make = RECORD[entity]
    return json.dumps({key: make(n, salt)}, ensure_ascii=False, separators=(",", ":")).encode()

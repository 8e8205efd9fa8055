"""Helpers to build Zoho-style webhook requests (signed exactly as Zoho signs them)."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from urllib.parse import urlencode

from tests.conftest import TEST_WEBHOOK_SECRET


def body_of(record_key: str, record: dict) -> bytes:
    return json.dumps({record_key: record}, ensure_ascii=False).encode()


def sign(body: bytes | None, params: dict | None = None, form: dict | None = None,
         secret: str = TEST_WEBHOOK_SECRET, encoding: str = "hex") -> str:
    pairs = sorted(list((params or {}).items()) + list((form or {}).items()))
    s = "".join(f"{k}{v}" for k, v in pairs).encode() + (body or b"")
    digest = hmac.new(secret.encode(), s, hashlib.sha256)
    return digest.hexdigest() if encoding == "hex" else base64.b64encode(digest.digest()).decode()


def item(item_id: str = "2646610000000113826", lmt: str = "2025-11-04T21:52:11+0300", **fields) -> dict:
    return {
        "item_id": item_id,
        "name": "Bags-small",
        "sku": "SK123",
        "rate": 6,
        "purchase_rate": "",
        "status": "active",
        "last_modified_time": lmt,
        "custom_field_hash": {"cf_name_ar": "حقيبة صغيرة"},
        **fields,
    }


def signed_post(client, path: str, record_key: str, record: dict, params: dict | None = None, bind: bool = True,
                **kw):
    """POST a signed webhook; `bind` adds the signed `entity=<path's entity>` query parameter, as configured in Zoho."""
    body = body_of(record_key, record)
    if bind:
        params = {"entity": path.rstrip("/").rsplit("/", 1)[-1], **(params or {})}
    url = path + ("?" + urlencode(params) if params else "")
    return client.post(url, data=body, content_type="application/json",
                       headers={"X-Zoho-Webhook-Signature": sign(body, params), **kw.pop("headers", {})}, **kw)

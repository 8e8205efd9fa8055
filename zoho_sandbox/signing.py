"""Zoho's webhook signature, shared by the sandbox (which signs) and tests (which verify).

The scheme is Zoho Billing's published one, which the receiver implements: every
query parameter sorted by key and concatenated as `key1value1key2value2…`, then the
raw JSON body bytes; HMAC-SHA256 keyed with the webhook secret, as lowercase hex.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping


def signing_payload(query: Mapping[str, str] | None, body: bytes) -> bytes:
    """S: sorted `keyvalue` pairs of the query string followed by the raw body."""
    prefix = "".join(f"{key}{value}" for key, value in sorted((query or {}).items()))
    return prefix.encode("utf-8") + body


def sign(secret: str, query: Mapping[str, str] | None, body: bytes) -> str:
    """Lowercase hex HMAC-SHA256 of S keyed with `secret` (the `X-Zoho-Webhook-Signature` value)."""
    return hmac.new(secret.encode("utf-8"), signing_payload(query, body), hashlib.sha256).hexdigest()


def verify(secret: str, query: Mapping[str, str] | None, body: bytes, signature: str) -> bool:
    """Constant-time check of a received signature."""
    return hmac.compare_digest(sign(secret, query, body), (signature or "").strip().lower())

"""Webhook authenticity: Zoho's HMAC signature scheme or a shared token, compared in constant time.

Signature (the scheme Zoho documents for signed webhooks): HMAC-SHA256 keyed with the
secret over S = every query parameter — and, for a form-encoded body, every form field —
sorted by key and concatenated as `key1value1key2value2…`, followed by the raw body bytes
when the body is JSON. Zoho does not say hex or base64, so both are accepted.

What an event does is bound to what authenticated it (docs/security.md, "What is signed"):
- the operation is `delete` only when the query parameter `event` says so (deleted, delete,
  removed); on a signed request the query is inside the signature, so a replay cannot turn an
  upsert into a delete. The unsigned hints — the `DELETE` method, the `X-Zoho-Event` header —
  count only on a request authenticated by the shared token, and only when the operator set
  `ZOHO_WEBHOOK_TRUST_UNSIGNED_HINTS=true`; otherwise they are ignored;
- the entity: an entity with its own secret (`ZOHO_WEBHOOK_SECRET_<ENTITY>`) accepts only that
  secret, so nothing signed for another entity verifies there. Under the shared secret a signed
  request must name its entity in its signed bytes: a query parameter `entity=<route entity>`,
  or a body whose record key belongs to this entity alone (`invoice` can only mean invoices,
  while `item` is both products and stock, and `contact` both customers and vendors).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Iterable

TOKEN_HEADERS = ("X-Zoho-Webhook-Token", "X-Webhook-Key")
SIGNATURE_HEADER = "X-Zoho-Webhook-Signature"


def signing_string(params: Iterable[tuple[str, str]], json_body: bytes | None) -> bytes:
    """S: parameters sorted by key (stable for repeated keys), `keyvalue` joined, then the JSON body."""
    ordered = sorted(params, key=lambda kv: kv[0])
    s = "".join(f"{k}{v}" for k, v in ordered).encode("utf-8")
    return s + (json_body or b"")


def compute_signature(secret: str, params: Iterable[tuple[str, str]], json_body: bytes | None) -> str:
    """Lower-case hex HMAC-SHA256 of S (what Zoho sends, and what tests and the sandbox sign with)."""
    return hmac.new(secret.encode(), signing_string(params, json_body), hashlib.sha256).hexdigest()


def _decode_signature(value: str) -> bytes | None:
    value = value.strip()
    if value.lower().startswith("sha256="):
        value = value[7:]
    if len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if ("-" in value or "_" in value) else None,
                               validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == 32 else None


def signature_valid(secret: str, header_value: str, params: Iterable[tuple[str, str]], json_body: bytes | None) -> bool:
    given = _decode_signature(header_value)
    if given is None:
        return False
    expected = hmac.digest(secret.encode(), signing_string(params, json_body), "sha256")  # one-shot, in C
    return hmac.compare_digest(given, expected)


def token_valid(secret: str, candidates: Iterable[str | None]) -> bool:
    """True when any presented token equals the secret (each compared in constant time)."""
    ok = False
    for candidate in candidates:
        if candidate:
            ok |= hmac.compare_digest(candidate.strip().encode(), secret.encode())
    return ok


DELETE_EVENTS = frozenset({"deleted", "delete", "removed"})
ENTITY_PARAM = "entity"
EVENT_PARAM = "event"


def operation_from(event: str | None) -> str:
    """`delete` for Zoho's delete event names, else `upsert`."""
    return "delete" if (event or "").strip().lower() in DELETE_EVENTS else "upsert"


def shared_record_keys(record_keys: dict[str, tuple[str, ...]]) -> dict[str, set[str]]:
    """entity → the record keys it shares with another entity (a key that alone cannot name the entity)."""
    owners: dict[str, set[str]] = {}
    for entity, keys in record_keys.items():
        for key in keys:
            owners.setdefault(key, set()).add(entity)
    return {entity: {k for k in keys if len(owners[k]) > 1} for entity, keys in record_keys.items()}

"""Outgoing webhooks: the sandbox posts signed default payloads at the receiver, as Zoho does.

Delivery mirrors what the receiver must survive: a signed JSON body under the
record's module key, `?event=deleted` for deletions, a few retries on failure, and a
deliberate `drop_rate` share that never leaves (Zoho drops webhooks under load; the
scheduled pulls are the safety net). Every outcome is counted per entity.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import requests

from zoho_sandbox.signing import sign

log = logging.getLogger(__name__)

OUTCOMES = ("sent", "dropped", "failed", "skipped", "suppressed")


@dataclass
class Delivery:
    """The result of one webhook: delivered or not, after how many attempts, what the receiver said."""

    entity: str
    operation: str
    zoho_id: str
    outcome: str  # one of OUTCOMES
    status_code: int | None = None
    attempts: int = 0
    response: Any = None
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "entity": self.entity,
            "operation": self.operation,
            "zoho_id": self.zoho_id,
            "outcome": self.outcome,
            "status_code": self.status_code,
            "status": self.status_code,
            "attempts": self.attempts,
            "response": self.response,
            "error": self.error,
            "delivered": self.outcome == "sent",
        }


@dataclass
class WebhookStats:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    by_entity: dict[str, dict[str, int]] = field(default_factory=dict)

    def add(self, entity: str, outcome: str) -> None:
        self.counts[outcome] += 1
        per = self.by_entity.setdefault(entity, dict.fromkeys(OUTCOMES, 0))
        per[outcome] += 1


def encode_body(key: str, record: dict[str, Any]) -> bytes:
    """Zoho's default payload: `{"<module key>": {...record...}}`, UTF-8 JSON (Arabic unescaped)."""
    return json.dumps({key: record}, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class WebhookSender:
    """Signs and posts webhooks, retrying like Zoho; thread-safe counters for `/sandbox/stats`."""

    def __init__(
        self,
        url: str,
        secret: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: tuple[float, ...] = (0.2, 0.5, 1.0),
    ) -> None:
        self.url = url
        self.secret = secret
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self._lock = threading.Lock()
        self._stats = WebhookStats()
        self._recent: deque[dict[str, Any]] = deque(maxlen=200)
        # request threads come and go; a small pool keeps connections alive across them
        self._sessions: queue.SimpleQueue[requests.Session] = queue.SimpleQueue()

    def _session(self) -> requests.Session:
        try:
            return self._sessions.get_nowait()
        except queue.Empty:
            return requests.Session()

    def count(self, entity: str, outcome: str, delivery: Delivery | None = None) -> None:
        with self._lock:
            self._stats.add(entity, outcome)
            if delivery is not None:
                entry = delivery.as_dict()
                entry.pop("response", None)
                entry["at"] = time.time()
                self._recent.append(entry)

    def recent(self) -> list[dict[str, Any]]:
        """The last deliveries (newest last), without bodies: what a failing end-to-end test wants to see."""
        with self._lock:
            return list(self._recent)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            out: dict[str, Any] = dict(self._stats.counts)
            out["by_entity"] = {k: dict(v) for k, v in self._stats.by_entity.items()}
            return out

    def reset(self) -> None:
        with self._lock:
            self._stats = WebhookStats()
            self._recent.clear()

    def build(
        self, entity: str, key: str, record: dict[str, Any], operation: str
    ) -> tuple[str, dict[str, str], bytes, dict[str, str]]:
        """(url, query, body, headers) of the request that carries this change."""
        # `entity` binds the signature to its route (the receiver refuses an item signed for another entity)
        query = {"entity": entity, **({"event": "deleted"} if operation == "delete" else {})}
        body = encode_body(key, record)
        url = f"{self.url.rstrip('/')}/api/zoho/webhooks/{entity}"
        if query:
            url = f"{url}?{urlencode(query)}"
        headers = {
            "Content-Type": "application/json",
            "X-Zoho-Webhook-Signature": sign(self.secret, query, body),
            "User-Agent": "Zoho-Webhook-Sandbox/1.0",
        }
        return url, query, body, headers

    def deliver(
        self,
        entity: str,
        key: str,
        record: dict[str, Any],
        zoho_id: str,
        operation: str = "upsert",
        retries: int | None = None,
    ) -> Delivery:
        """Post one webhook now, retrying non-2xx answers and connection errors with a short backoff."""
        if not self.url:
            skipped = Delivery(entity, operation, zoho_id, "skipped", error="no webhook_url configured")
            self.count(entity, "skipped", skipped)
            return skipped
        url, _query, body, headers = self.build(entity, key, record, operation)
        attempts = 1 + max(0, self.retries if retries is None else retries)
        result = Delivery(entity, operation, zoho_id, "failed")
        session = self._session()
        try:
            for attempt in range(attempts):
                if attempt:
                    time.sleep(self.backoff[min(attempt - 1, len(self.backoff) - 1)] if self.backoff else 0)
                result.attempts = attempt + 1
                try:
                    response = session.post(url, data=body, headers=headers, timeout=self.timeout)
                except requests.RequestException as e:
                    result.status_code, result.response = None, None
                    result.error = type(e).__name__
                    continue
                result.status_code = response.status_code
                try:
                    result.response = response.json()
                except ValueError:
                    result.response = response.text[:500]
                if 200 <= response.status_code < 300:
                    result.outcome, result.error = "sent", None
                    break
                result.error = f"HTTP {response.status_code}"
        finally:
            self._sessions.put(session)
        self.count(entity, result.outcome, result)
        if result.outcome != "sent":
            log.warning(
                "webhook %s %s/%s failed after %d attempts: %s",
                operation,
                entity,
                zoho_id,
                result.attempts,
                result.error,
            )
        return result

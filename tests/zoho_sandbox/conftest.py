"""Fixtures for the sandbox tests: a sandbox over real HTTP, a Zoho-speaking client and a webhook receiver.

One sandbox serves the whole session on a free port; every test starts from a reset
(seeded organisation regenerated, counters and limits zeroed, settings back to the
start-up values), so tests are independent without paying for a new server each.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests

from zoho_sandbox import SandboxServer, verify

ORG_ID = "748369814"
SCALE = 0.1
WEBHOOK_SECRET = "sandbox-test-secret-42"
CREDENTIALS = {
    "grant_type": "refresh_token",
    "client_id": "sandbox-client-id",
    "client_secret": "sandbox-client-secret",
    "refresh_token": "sandbox-refresh-token",
}


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    signature_ok: bool

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """A stand-in webhook receiver that records every request and checks its HMAC signature."""

    secret: str
    status: int = 202
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_port}"

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                parts = urlsplit(self.path)
                query = dict(parse_qsl(parts.query, keep_blank_values=True))
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                ok = verify(receiver.secret, query, body, self.headers.get("X-Zoho-Webhook-Signature", ""))
                with receiver.lock:
                    receiver.received.append(Received("POST", parts.path, query, dict(self.headers), body, ok))
                    status = receiver.status
                payload = json.dumps({"status": "queued" if status < 300 else "error"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def clear(self) -> None:
        with self.lock:
            self.received.clear()
            self.status = 202

    def all(self) -> list[Received]:
        with self.lock:
            return list(self.received)


class Zoho:
    """Just enough of a Zoho client to drive the sandbox the way the real one will."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.session = requests.Session()
        self.token: str | None = None

    def refresh(self, **overrides: str) -> requests.Response:
        return self.session.post(f"{self.base}/oauth/v2/token", params={**CREDENTIALS, **overrides})

    def login(self) -> str:
        response = self.refresh()
        assert response.status_code == 200, response.text
        self.token = response.json()["access_token"]
        return self.token

    def get(
        self,
        path: str,
        params: dict[str, Any] | None = None,
        *,
        org: str | None = ORG_ID,
        token: str | None = None,
        auth: str | None = None,
    ) -> requests.Response:
        query = dict(params or {})
        if org is not None:
            query.setdefault("organization_id", org)
        if auth is None:
            auth = f"Zoho-oauthtoken {token or self.token or self.login()}"
        return self.session.get(f"{self.base}{path}", params=query, headers={"Authorization": auth})

    def ok(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.get(path, params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["code"] == 0 and body["message"] == "success"
        return body

    def all_rows(self, path: str, key: str, params: dict[str, Any] | None = None, per_page: int = 200) -> list[dict]:
        rows, page = [], 1
        while True:
            body = self.ok(path, {**(params or {}), "page": page, "per_page": per_page})
            rows.extend(body[key])
            if not body["page_context"]["has_more_page"]:
                return rows
            page += 1

    # sandbox controls (no auth)
    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.session.request(method, f"{self.base}/sandbox{path}", **kwargs)

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/stats").json()

    def records(self, entity: str) -> list[dict[str, Any]]:
        return self.control("GET", f"/records/{entity}").json()["records"]

    def configure(self, **settings: Any) -> dict[str, Any]:
        response = self.control("POST", "/config", json=settings)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture(scope="session")
def receiver() -> Receiver:
    r = Receiver(WEBHOOK_SECRET).start()
    yield r
    r.stop()


@pytest.fixture(scope="session")
def sandbox_server(receiver: Receiver) -> SandboxServer:
    server = SandboxServer(
        scale=SCALE,
        webhook_url=receiver.url,
        webhook_secret=WEBHOOK_SECRET,
        webhook_backoff=(0.01, 0.02, 0.03),
        interval=0.05,
    ).start()
    yield server
    server.stop()


@pytest.fixture
def zoho(sandbox_server: SandboxServer, receiver: Receiver) -> Zoho:
    """A client against a freshly reset sandbox (and an emptied receiver)."""
    client = Zoho(sandbox_server.url)
    response = client.control("POST", "/reset", json={"drop_tokens": True})
    assert response.status_code == 200, response.text
    receiver.clear()
    return client

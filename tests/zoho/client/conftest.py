"""Fixtures for the API-client tests: a Zoho sandbox over real HTTP, and settings pointing at it.

The sandbox listens on a free port for the whole session, served from a thread of the test process (the client
reaches it only over HTTP, as it reaches Zoho); each test starts from a reset sandbox (tokens dropped, counters
and limits zeroed) and a flushed test Redis, so the shared token cache and call budget start empty.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from models.settings import reset_settings
from zoho_sandbox.server import SandboxServer

ORG_ID = "748369814"
CLIENT_ID = "sandbox-client-id"
CLIENT_SECRET = "sandbox-client-secret"
REFRESH_TOKEN = "sandbox-refresh-token"
SCALE = 0.2


@dataclass
class Sandbox:
    """Drives the sandbox's control endpoints (not Zoho: no auth, not counted)."""

    url: str

    def control(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        response = requests.request(method, f"{self.url}/sandbox{path}", timeout=30, **kwargs)
        assert response.status_code < 300, response.text
        return response

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "/stats").json()

    def reset(self) -> None:
        self.control("POST", "/reset", json={"drop_tokens": True})

    def configure(self, **settings: Any) -> None:
        self.control("POST", "/config", json=settings)

    def expire_tokens(self) -> int:
        return self.control("POST", "/tokens/expire").json()["expired"]

    def records(self, entity: str) -> list[dict[str, Any]]:
        return self.control("GET", f"/records/{entity}").json()["records"]

    def mint_token(self) -> requests.Response:
        """A refresh made by someone else with the same refresh token (uses up Zoho's refresh allowance)."""
        return requests.post(f"{self.url}/oauth/v2/token", timeout=10, data={
            "grant_type": "refresh_token", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
            "refresh_token": REFRESH_TOKEN})


@pytest.fixture(scope="session")
def sandbox_url() -> Iterator[str]:
    """One sandbox per test process, on a free port, served from a thread as `python -m zoho_sandbox` serves it
    (werkzeug's threaded server): real HTTP without a second interpreter's start (~2.8 s of CPU each)."""
    with SandboxServer(seed=42, scale=SCALE) as server:
        yield server.url


@pytest.fixture
def sandbox(sandbox_url: str, redis_client, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A freshly reset sandbox, settings pointing at it with generous limits, and an empty test Redis."""
    env = {
        "ZOHO_API_BASE_URL": sandbox_url,
        "ZOHO_ACCOUNTS_URL": sandbox_url,
        "ZOHO_CLIENT_ID": CLIENT_ID,
        "ZOHO_CLIENT_SECRET": CLIENT_SECRET,
        "ZOHO_REFRESH_TOKEN": REFRESH_TOKEN,
        "ZOHO_ORGANIZATION_ID": ORG_ID,
        "ZOHO_RATE_LIMIT_PER_MINUTE": "1000",
        "ZOHO_DAILY_CALL_BUDGET": "100000",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    reset_settings()
    sb = Sandbox(sandbox_url)
    sb.reset()
    yield sb
    monkeypatch.undo()
    reset_settings()

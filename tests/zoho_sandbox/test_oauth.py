"""OAuth as Zoho Accounts does it: refresh grant, expiry, the 10-per-10-minutes refresh limit, live-token cap."""

from __future__ import annotations

import time

from tests.zoho_sandbox.conftest import Zoho


def test_refresh_grant_issues_a_bearer_token_for_this_server(zoho: Zoho) -> None:
    response = zoho.refresh()
    assert response.status_code == 200
    body = response.json()
    assert body["access_token"] and body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["api_domain"] == zoho.base
    assert "scope" in body
    assert zoho.get("/inventory/v1/items", token=body["access_token"]).status_code == 200


def test_token_endpoint_accepts_form_parameters_too(zoho: Zoho) -> None:
    from tests.zoho_sandbox.conftest import CREDENTIALS

    response = zoho.session.post(f"{zoho.base}/oauth/v2/token", data=CREDENTIALS)
    assert response.status_code == 200 and response.json()["access_token"]


def test_wrong_client_or_refresh_token_is_invalid_code(zoho: Zoho) -> None:
    for overrides in ({"client_id": "nope"}, {"client_secret": "nope"}, {"refresh_token": "nope"}):
        response = zoho.refresh(**overrides)
        assert response.status_code == 400
        assert response.json() == {"error": "invalid_code"}
    assert zoho.refresh(grant_type="authorization_code").status_code == 400
    assert zoho.stats()["token_refreshes"] == 0


def test_refreshes_are_counted(zoho: Zoho) -> None:
    for _ in range(3):
        zoho.login()
    stats = zoho.stats()
    assert stats["token_refreshes"] == 3
    assert stats["live_tokens"] == 3


def test_eleventh_refresh_within_ten_minutes_is_access_denied(zoho: Zoho) -> None:
    tokens = [zoho.login() for _ in range(10)]
    response = zoho.refresh()
    assert response.status_code == 400
    assert response.json()["error"] == "Access Denied"
    assert "too many requests" in response.json()["error_description"]
    stats = zoho.stats()
    assert stats["token_refreshes"] == 10 and stats["token_refreshes_denied"] == 1
    # the tokens already issued keep working
    assert zoho.get("/books/v3/contacts", token=tokens[-1]).status_code == 200


def test_only_ten_live_tokens_the_oldest_is_invalidated(zoho: Zoho) -> None:
    tokens = [zoho.login() for _ in range(10)]
    # a reset clears the refresh window but (by design) keeps issued tokens
    zoho.control("POST", "/reset", json={})
    newest = zoho.login()
    assert zoho.get("/books/v3/contacts", token=tokens[0]).status_code == 401
    assert zoho.get("/books/v3/contacts", token=tokens[1]).status_code == 200
    assert zoho.get("/books/v3/contacts", token=newest).status_code == 200


def test_tokens_expire_after_their_ttl(zoho: Zoho) -> None:
    zoho.configure(token_ttl=1)
    body = zoho.refresh().json()
    assert body["expires_in"] == 1
    time.sleep(1.3)
    response = zoho.get("/inventory/v1/items", token=body["access_token"])
    assert response.status_code == 401
    assert response.json() == {"code": 57, "message": "You are not authorized to perform this operation"}


def test_expiring_every_token_forces_a_refresh(zoho: Zoho) -> None:
    token = zoho.login()
    assert zoho.control("POST", "/tokens/expire").json()["expired"] == 1
    assert zoho.get("/inventory/v1/items", token=token).status_code == 401
    assert zoho.get("/inventory/v1/items", token=zoho.login()).status_code == 200

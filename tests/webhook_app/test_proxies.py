"""Forwarded headers count only from configured proxies (TRUSTED_PROXIES): `request.is_secure` behind a TLS proxy."""
from __future__ import annotations

import pytest
from flask import jsonify, request

from webhook_app import create_app

FORWARDED = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9", "X-Forwarded-Host": "sync.example.com"}


def probe(config: dict | None = None, headers: dict | None = None):
    app = create_app(config)
    app.add_url_rule("/probe", "probe", lambda: jsonify(secure=request.is_secure, remote=request.remote_addr,
                                                        host=request.host))
    return app.test_client().get("/probe", headers=headers or FORWARDED, environ_base={"REMOTE_ADDR": "10.0.0.2"}).json


def test_without_trusted_proxies_forwarded_headers_are_ignored():
    seen = probe()
    assert seen == {"secure": False, "remote": "10.0.0.2", "host": "localhost"}


# Two hops: the load balancer (TLS) appends its view, then an inner proxy appends its own.
TWO_HOPS = {"X-Forwarded-Proto": "https, http", "X-Forwarded-For": "203.0.113.9, 10.0.0.1",
            "X-Forwarded-Host": "sync.example.com, web.internal"}


@pytest.mark.parametrize("hops, headers", [(1, FORWARDED), (2, TWO_HOPS)])
def test_behind_a_trusted_tls_proxy_the_request_is_secure_and_comes_from_the_client(hops, headers):
    seen = probe({"TRUSTED_PROXIES": hops}, headers)
    assert seen == {"secure": True, "remote": "203.0.113.9", "host": "sync.example.com"}


def test_a_client_cannot_add_hops_beyond_the_configured_ones():
    spoofed = {"X-Forwarded-Proto": "https, http", "X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
    seen = probe({"TRUSTED_PROXIES": 1}, spoofed)
    assert seen["remote"] == "203.0.113.9" and seen["secure"] is False


def test_trusted_proxies_is_read_from_the_environment(monkeypatch):
    from models.settings import reset_settings

    monkeypatch.setenv("TRUSTED_PROXIES", "1")
    reset_settings()
    try:
        assert probe()["secure"] is True
    finally:
        monkeypatch.undo()
        reset_settings()

"""Who may use the operator endpoints: the admin bearer token, or a dashboard session cookie (with CSRF checks).

- Scripts and monitors send `Authorization: Bearer <ADMIN_TOKEN>`; the token is accepted
  nowhere else (a query string or a custom header ends up in access logs and proxies).
- A person signs in on `/dashboard` with a POST form; the answer sets an opaque, random
  session id (HttpOnly, SameSite=Strict, Secure over https), stored server-side in Redis
  only as its SHA-256, so a Redis dump holds no usable cookie. Signing out deletes it.
- A request that changes state and is authenticated by the cookie must come from this
  origin: its `Origin` header (or, failing that, `Referer`) names this host. A
  cross-site form or fetch therefore cannot act with an operator's cookie.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import secrets
from urllib.parse import urlsplit

import redis
from flask import jsonify, request

from models.settings import get_settings
from zoho.ratelimit import shared_redis

log = logging.getLogger(__name__)

SESSION_COOKIE = "zohosync_session"
SESSION_TTL = 12 * 3600
SESSION_PREFIX = "zohosync:dashboard-session:"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})



def _store() -> redis.Redis:
    """The coordination Redis every process shares (sessions outlive a receiver restart, and all workers see them)."""
    return shared_redis()


def _key(session_id: str) -> str:
    return SESSION_PREFIX + hashlib.sha256(session_id.encode()).hexdigest()


def bearer_token() -> str | None:
    """The token of `Authorization: Bearer …`, the only place the admin token is read from."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        return header[7:].strip() or None
    return None


def token_matches(given: str | None) -> bool:
    expected = get_settings().admin_token
    return bool(expected and given and hmac.compare_digest(given.encode(), expected.encode()))


def start_session() -> str:
    """A new session id (stored hashed, expiring after SESSION_TTL); the caller sets it as the cookie."""
    session_id = secrets.token_urlsafe(32)
    _store().set(_key(session_id), "1", ex=SESSION_TTL)
    return session_id


def end_session() -> None:
    """Revoke the request's session, if any (sign-out)."""
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        try:
            _store().delete(_key(session_id))
        except redis.RedisError as e:
            log.warning("dashboard: could not revoke a session (%s)", type(e).__name__)


def session_valid() -> bool:
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id or len(session_id) > 128:
        return False
    try:
        return bool(_store().exists(_key(session_id)))
    except redis.RedisError as e:
        log.warning("dashboard: session store unreachable (%s)", type(e).__name__)
        return False


def set_session_cookie(response, session_id: str):
    response.set_cookie(SESSION_COOKIE, session_id, max_age=SESSION_TTL, httponly=True, samesite="Strict",
                        secure=request.is_secure, path="/")
    return response


def clear_session_cookie(response):
    response.delete_cookie(SESSION_COOKIE, path="/", samesite="Strict", httponly=True, secure=request.is_secure)
    return response


def same_origin() -> bool:
    """True when the browser says this request comes from a page of this host (Origin, else Referer)."""
    source = request.headers.get("Origin") or request.headers.get("Referer")
    if not source or source == "null":
        return False
    parts = urlsplit(source)
    return (parts.scheme, parts.netloc.lower()) == (request.scheme, request.host.lower())


def cross_site_refusal():
    """None when a cookie-authenticated state change may proceed; else the 403 to answer."""
    if request.method in SAFE_METHODS or same_origin():
        return None
    return jsonify({"status": "error", "error": "cross_origin",
                    "message": "a state change with the dashboard cookie must come from this origin"}), 403


def admin_ok() -> bool:
    """The bearer token, or a live dashboard session (its CSRF check is `require_admin`'s)."""
    if bearer_token() is not None:
        return token_matches(bearer_token())
    return session_valid()


def require_admin(view):
    """401 JSON unless the request carries `ADMIN_TOKEN` or a session; 403 for a cross-site state change."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not admin_ok():
            return jsonify({"status": "error", "error": "unauthorized",
                            "message": "admin token required (Authorization: Bearer <ADMIN_TOKEN>)"}), 401
        if bearer_token() is None:
            refused = cross_site_refusal()
            if refused is not None:
                return refused
        return view(*args, **kwargs)

    return wrapper


def json_body() -> dict | None:
    """The JSON object a state-changing endpoint takes its parameters from: {} when empty, None when unfit.

    Parameters in the query string are refused (they are logged, and a link could carry them).
    """
    if request.args:
        return None
    if not request.get_data(cache=True).strip():
        return {}
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else None


def bad_body():
    return jsonify({"status": "error", "error": "invalid",
                    "message": "parameters go in a JSON object body (Content-Type: application/json), "
                               "not in the query string"}), 422

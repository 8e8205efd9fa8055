"""The admin bearer token guarding admin, bulk-sync and dashboard endpoints (constant-time)."""
from __future__ import annotations

import functools
import hmac

from flask import jsonify, request

from models.settings import get_settings


def presented_token() -> str | None:
    """`Authorization: Bearer …`, `X-Admin-Token`, or `?token=` (for links from the dashboard page)."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("X-Admin-Token") or request.args.get("admin_token") or request.cookies.get("admin_token")


def admin_ok() -> bool:
    expected = get_settings().admin_token
    given = presented_token()
    if not expected or not given:
        return False
    return hmac.compare_digest(given.encode(), expected.encode())


def require_admin(view):
    """401 JSON unless the request carries `ADMIN_TOKEN` (always 401 while it is unset)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        if not admin_ok():
            return jsonify({"status": "error", "error": "unauthorized",
                            "message": "admin token required (Authorization: Bearer <ADMIN_TOKEN>)"}), 401
        return view(*args, **kwargs)

    return wrapper

"""The Flask app factory: webhook receiver, health, product pictures, and the operator blueprints.

Every error — including Flask's own 404/405/413 — answers JSON, never an HTML page.

Behind a load balancer or TLS-terminating proxy, `TRUSTED_PROXIES=<hops>` makes the app
believe that many `X-Forwarded-For/-Proto/-Host/-Port/-Prefix` hops (werkzeug's ProxyFix),
so `request.is_secure` is true behind HTTPS and the dashboard cookie can be `Secure`.
Unset (0), forwarded headers are ignored: anyone could send them.
"""
from __future__ import annotations

import logging
import re

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.middleware.proxy_fix import ProxyFix

from models.logs import configure_logging

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
IMAGE_NAME = re.compile(r"^(?P<sha>[0-9a-f]{64})(?:\.(?P<ext>[a-z0-9]{1,8}))?$")
ITEM_ID = re.compile(r"^[0-9]{1,32}$")


def create_app(config: dict | None = None) -> Flask:
    configure_logging()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    if config:
        app.config.update(config)
    from models.settings import get_settings

    hops = int(app.config.get("TRUSTED_PROXIES", get_settings().trusted_proxies) or 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)

    from webhook_app.admin import bp as admin_bp
    from webhook_app.bulk_sync import bp as bulk_sync_bp
    from webhook_app.dashboard import bp as dashboard_bp
    from webhook_app.webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(bulk_sync_bp)
    app.register_blueprint(dashboard_bp)

    @app.get("/healthz")
    def healthz():
        return jsonify({"status": "ok"})

    @app.get("/api/zoho/images/<name>")
    def product_image(name: str):
        """A stored product picture: by content (`<sha256>.<ext>`, what `products.image_url` holds) or by item id.

        Served from the shared store (`product_images`), so any receiver behind the load
        balancer answers. Content URLs never change meaning: cached for a year.
        """
        from tasks.images import load_image, product_image_hash

        found = IMAGE_NAME.match(name)
        if found:
            sha, immutable = found.group("sha"), True
        elif ITEM_ID.match(name):
            sha, immutable = product_image_hash(name), False
        else:
            sha, immutable = None, False
        stored = load_image(sha) if sha else None
        if stored is None:
            raise NotFound("no such product image")
        data, content_type, _ = stored
        response = Response(data, content_type=content_type)
        response.set_etag(sha)
        response.cache_control.public = True
        response.cache_control.max_age = 31536000 if immutable else 300
        if immutable:
            response.cache_control.immutable = True
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
        return response.make_conditional(request)

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return jsonify({"status": "error", "error": (e.name or "error").lower().replace(" ", "_"),
                        "message": e.description}), e.code

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unhandled error")
        return jsonify({"status": "error", "error": "internal", "message": "internal error"}), 500

    return app

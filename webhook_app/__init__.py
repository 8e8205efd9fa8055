"""The Flask app factory: webhook receiver, health, and the operator blueprints.

Every error — including Flask's own 404/405/413 — answers JSON, never an HTML page.
"""
from __future__ import annotations

import logging

from flask import Flask, jsonify
from werkzeug.exceptions import HTTPException

from models.logs import configure_logging

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024


def create_app(config: dict | None = None) -> Flask:
    configure_logging()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES, JSON_SORT_KEYS=False)
    app.json.sort_keys = False
    if config:
        app.config.update(config)

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

    @app.errorhandler(HTTPException)
    def http_error(e: HTTPException):
        return jsonify({"status": "error", "error": (e.name or "error").lower().replace(" ", "_"),
                        "message": e.description}), e.code

    @app.errorhandler(Exception)
    def unexpected(e: Exception):
        log.exception("unhandled error")
        return jsonify({"status": "error", "error": "internal", "message": "internal error"}), 500

    return app

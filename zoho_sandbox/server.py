"""Serving a sandbox app with werkzeug's threaded server, in the foreground or in a background thread.

Tests and end-to-end suites start a sandbox on a free port in-process
(`with SandboxServer(scale=0.1) as sb: sb.url`); `python -m zoho_sandbox` serves one
in the foreground. Both use `werkzeug.serving.make_server(..., threaded=True)`.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from zoho_sandbox.app import create_sandbox_app, sandbox_of
from zoho_sandbox.runtime import Sandbox


class SandboxServer:
    """A sandbox listening on `host:port` (port 0 = any free port) in a daemon thread."""

    def __init__(self, app: Flask | None = None, host: str = "127.0.0.1", port: int = 0, **options: Any) -> None:
        self.app = app or create_sandbox_app(**options)
        self.host = host
        self._requested_port = port
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def sandbox(self) -> Sandbox:
        return sandbox_of(self.app)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("server not started")
        return self._server.server_port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SandboxServer:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server = make_server(self.host, self._requested_port, self.app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="zoho-sandbox-http", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.sandbox.live.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(10)
        self._server = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

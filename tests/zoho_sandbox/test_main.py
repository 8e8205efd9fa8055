"""`python -m zoho_sandbox`: options, environment defaults, and a real foreground server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import requests

from zoho_sandbox.__main__ import build_parser


def test_options_and_their_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.host, args.port, args.seed, args.scale) == ("127.0.0.1", 8765, 42, 1.0)
    assert args.org_id == "748369814" and args.rate_limit == 100 and args.daily_limit == 10000
    assert args.token_ttl == 3600 and args.live is False and args.drop_rate == 0.0
    assert args.webhook_url == "http://127.0.0.1:8000" and args.interval == 2.0 and args.changes_per_tick == 3
    args = build_parser().parse_args(
        ["--port", "9999", "--seed", "7", "--live", "--legacy-warehouses", "--drop-rate", "0.2"]
    )
    assert args.port == 9999 and args.seed == 7 and args.live and args.legacy_warehouses and args.drop_rate == 0.2


def test_environment_variables_provide_defaults(monkeypatch) -> None:
    monkeypatch.setenv("SANDBOX_PORT", "8899")
    monkeypatch.setenv("SANDBOX_LIVE", "true")
    monkeypatch.setenv("SANDBOX_WEBHOOK_URL", "http://receiver:8000")
    args = build_parser().parse_args([])
    assert args.port == 8899 and args.live is True and args.webhook_url == "http://receiver:8000"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_module_serves_until_terminated() -> None:
    port = _free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "zoho_sandbox",
            "--port",
            str(port),
            "--seed",
            "3",
            "--scale",
            "0.05",
            "--org-id",
            "111222333",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, proc.stdout.read().decode()
                time.sleep(0.1)
        assert health.json() == {"status": "ok", "org_id": "111222333"}
        assert requests.get(f"http://127.0.0.1:{port}/sandbox/stats", timeout=5).json()["seed"] == 3
    finally:
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=20)[0].decode()
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in output and "sandbox-client-secret" not in output

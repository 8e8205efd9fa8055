"""The receiver as a plain `gunicorn webhook_app.wsgi:app` serves it (issue 14): loopback bind, no secret in
any log line, and slow clients that cannot take it down."""
from __future__ import annotations

import json
import secrets
import socket
import time

import pytest
import requests

from tests.support.procs import BIN, Process, child_env, free_port, wait_http
from tests.support.slow_clients import legitimate_requests, slow_body_connections
from tests.support.webhooks import item, sign


def _start_receiver(run_dir):
    """`gunicorn webhook_app.wsgi:app` with no option at all: everything comes from gunicorn.conf.py and settings."""
    port = free_port()
    secret, admin = f"whsec-{secrets.token_hex(12)}", f"adm-{secrets.token_hex(12)}"
    env = child_env(WEB_PORT=str(port), ZOHO_WEBHOOK_SECRET=secret, ADMIN_TOKEN=admin,
                    ZOHOSYNC_RUN_DIR=str(run_dir), ZOHOSYNC_LOG_FORMAT="text", ZOHOSYNC_LOG_LEVEL="DEBUG",
                    WEB_WORKERS="1")  # one gevent process is what these tests exercise; a second is a boot more
    proc = Process("web-serving", [str(BIN / "gunicorn"), "webhook_app.wsgi:app"], env)
    try:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
    except BaseException:
        proc.stop()
        raise
    return {"port": port, "url": f"http://127.0.0.1:{port}", "secret": secret, "admin": admin, "proc": proc}


@pytest.fixture(scope="module")
def receiver(database_url, tmp_path_factory):
    """One receiver for the module's tests (each boot costs ~1.5 s of CPU)."""
    started = _start_receiver(tmp_path_factory.mktemp("run"))
    yield started
    started["proc"].stop()


@pytest.fixture
def own_receiver(database_url, tmp_path):
    """A receiver of the test's own, which it may stop (to read its whole log)."""
    started = _start_receiver(tmp_path / "run")
    yield started
    started["proc"].stop()


def _listening_addresses(port: int) -> set[str]:
    found = set()
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            host, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(socket.inet_ntoa(bytes.fromhex(host)[::-1]))
    return found


def test_plain_gunicorn_binds_loopback_only_with_gevent_workers(receiver):
    assert _listening_addresses(receiver["port"]) == {"127.0.0.1"}
    out = receiver["proc"].output()
    assert "Using worker: gevent" in out


def _raw(port: int, data: bytes) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(data)
        try:
            s.recv(4096)
        except OSError:
            pass


def test_no_secret_reaches_any_log_line(own_receiver, db):
    receiver = own_receiver
    url, secret, admin = receiver["url"], receiver["secret"], receiver["admin"]
    body = json.dumps({"item": item()}).encode()
    hook = f"{url}/api/zoho/webhooks/products"
    answers = [
        requests.post(hook, params={"token": secret}, data=body, timeout=10,
                      headers={"Content-Type": "application/json"}).status_code,
        requests.post(hook, params={"token": secret + "x"}, data=body, timeout=10).status_code,
        requests.post(hook, data=body, timeout=10, headers={"X-Zoho-Webhook-Token": secret,
                                                            "Content-Type": "application/json"}).status_code,
        requests.get(f"{url}/api/zoho/dashboard/stats", params={"admin_token": admin}, timeout=10).status_code,
        requests.get(f"{url}/api/zoho/dashboard/stats", timeout=10,
                     headers={"Authorization": f"Bearer {admin}", "Referer": f"{url}/dashboard?admin_token={admin}"}
                     ).status_code,
        requests.get(f"{url}/dashboard", params={"admin_token": admin}, timeout=10).status_code,
        requests.post(f"{url}/dashboard/login", data={"admin_token": admin + "-wrong"}, timeout=10,
                      allow_redirects=False).status_code,
        requests.post(f"{url}/dashboard/login", data={"admin_token": admin}, timeout=10,
                      allow_redirects=False).status_code,
        requests.post(f"{url}/api/zoho/webhooks/pro%0A00:00:00 INFO forged: admin={admin}", data=body,
                      timeout=10).status_code,
    ]
    assert answers == [202, 401, 200, 401, 200, 401, 401, 303, 404], answers
    _raw(receiver["port"], f"GET /healthz?token={secret} HTTP/1.1 junk\r\n\r\n".encode())  # an invalid request line
    _raw(receiver["port"], f"GET /healthz?admin_token={admin}&x={'y' * 9000} HTTP/1.1\r\n\r\n".encode())
    time.sleep(0.5)
    receiver["proc"].stop()
    log = receiver["proc"].output()
    assert "/api/zoho/webhooks/products" in log and "token=***" in log, log[-3000:]  # the access log is written
    assert secret not in log and admin not in log
    assert "\nforged" not in log and "\n00:00:00 INFO forged" not in log  # the newline stayed escaped


def test_forty_slow_body_clients_do_not_stop_webhooks_or_healthz(receiver, db):
    """Issue 14: with gthread workers 40 of these kept most health probes failing for a minute."""
    with slow_body_connections(receiver["port"], 40):
        time.sleep(1.0)  # every slow connection is in, holding whatever it can hold
        results = legitimate_requests(receiver["port"], 60, receiver["secret"])
    failed = [r for r in results if r[1] not in (200, 202)]
    assert not failed, failed
    assert max(seconds for _, _, seconds in results) < 5.0  # generous: the bench reports the p99


def test_a_chunked_body_over_one_mebibyte_is_413_not_truncated(receiver, db):
    """Issue 14: without a Content-Length the body was cut at 1 MiB and the rest accepted."""
    record = item(description="x" * (1024 * 1024))
    body = json.dumps({"item": record}).encode()
    params = {"entity": "products"}

    def chunks(data: bytes):
        for i in range(0, len(data), 65536):
            yield data[i:i + 65536]

    r = requests.post(f"{receiver['url']}/api/zoho/webhooks/products", params=params, data=chunks(body), timeout=30,
                      headers={"Content-Type": "application/json",
                               "X-Zoho-Webhook-Signature": sign(body, params, secret=receiver["secret"])})
    assert r.status_code == 413 and r.json()["error"] == "too_large"
    small = json.dumps({"item": item(description="y" * 200_000)}).encode()
    r = requests.post(f"{receiver['url']}/api/zoho/webhooks/products", params=params, data=chunks(small), timeout=30,
                      headers={"Content-Type": "application/json",
                               "X-Zoho-Webhook-Signature": sign(small, params, secret=receiver["secret"])})
    assert r.status_code == 202, r.text

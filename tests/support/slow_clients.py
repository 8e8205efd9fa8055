"""Slow clients for the receiver: connections that send their headers, then trickle the body a byte at a time.

Shared by `tests/webhook_app/test_serving.py` (correctness under attack) and `bench` (the p99 figure).
"""
from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import requests

from webhook_app.signature import compute_signature

# (not tests.support.webhooks: importing tests.conftest would rewrite this process's settings, the bench's too)


@contextlib.contextmanager
def slow_body_connections(port: int, count: int, path: str = "/api/zoho/webhooks/products",
                          interval: float = 0.5) -> Iterator[list[socket.socket]]:
    """`count` open requests announcing a 1 MB body and sending one byte of it every `interval` seconds."""
    socks: list[socket.socket] = []
    stop = threading.Event()
    for _ in range(count):
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        s.sendall((f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
                   "Content-Length: 1000000\r\n\r\n{").encode())
        socks.append(s)

    def trickle() -> None:
        while not stop.wait(interval):
            for s in socks:
                with contextlib.suppress(OSError):
                    s.send(b" ")

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        yield socks
    finally:
        stop.set()
        thread.join(5)
        for s in socks:
            with contextlib.suppress(OSError):
                s.close()


def legitimate_requests(port: int, count: int, secret: str, salt: int = 0, threads: int = 4,
                        timeout: float = 10) -> list[tuple[str, int, float]]:
    """`count` requests, half `/healthz`, half signed webhooks: (kind, status or -1, seconds) each."""
    base = f"http://127.0.0.1:{port}"

    def one(n: int) -> tuple[str, int, float]:
        started = time.monotonic()
        try:
            if n % 2:
                r = requests.get(f"{base}/healthz", timeout=timeout)
                return "healthz", r.status_code, time.monotonic() - started
            record = {"item_id": str(9_100_000_000_000_000_000 + salt * 100_000 + n), "name": "Slow-client probe",
                      "rate": 6, "last_modified_time": "2025-11-04T21:52:11+0300"}
            body = json.dumps({"item": record}).encode()
            params = {"entity": "products"}
            r = requests.post(f"{base}/api/zoho/webhooks/products", params=params, data=body, timeout=timeout,
                              headers={"Content-Type": "application/json",
                                       "X-Zoho-Webhook-Signature": compute_signature(secret, params.items(), body)})
            return "webhook", r.status_code, time.monotonic() - started
        except requests.RequestException:
            return ("healthz" if n % 2 else "webhook"), -1, time.monotonic() - started

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(count)))


def p99(seconds: list[float]) -> float:
    ordered = sorted(seconds)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]

"""Brokers for the tests that must hold on any of them: a Redis db, or a RabbitMQ vhost made for one run."""
from __future__ import annotations

import atexit
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from kombu import Connection

RABBIT_HOST = os.environ.get("ZOHOSYNC_TEST_RABBIT_HOST", "127.0.0.1")
RABBIT_PORT = int(os.environ.get("ZOHOSYNC_TEST_RABBIT_PORT", "5672"))
RABBIT_USER = os.environ.get("ZOHOSYNC_TEST_RABBIT_USER", "guest")
RABBIT_PASSWORD = os.environ.get("ZOHOSYNC_TEST_RABBIT_PASSWORD", "guest")
BROKERS = ("redis", "rabbitmq")


def rabbit_available() -> str | None:
    """None when a local RabbitMQ answers and `rabbitmqctl` can make vhosts, else why not."""
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl not installed"
    try:
        socket.create_connection((RABBIT_HOST, RABBIT_PORT), timeout=1).close()
    except OSError:
        return f"no RabbitMQ at {RABBIT_HOST}:{RABBIT_PORT}"
    return None


def _ctl_env() -> dict[str, str]:
    """`rabbitmqctl` starts an Erlang VM each time: one scheduler that does not spin while idle costs it ~0.3 s
    less CPU."""
    return {**os.environ, "RABBITMQ_CTL_ERL_ARGS": "+S 1:1 +sbwt none +sbwtdcpu none +sbwtdio none"}


def _ctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", *args], check=True, capture_output=True, timeout=60, env=_ctl_env())


_DELETING: list[subprocess.Popen] = []


def delete_vhost_later(vhost: str) -> None:
    """`rabbitmqctl delete_vhost` (an Erlang VM's start, ~2 s) without waiting: nothing of this run uses the vhost
    again, its name is unique, and this process waits for every deletion before it exits."""
    _DELETING[:] = [p for p in _DELETING if p.poll() is None]
    _DELETING.append(subprocess.Popen(["rabbitmqctl", "delete_vhost", vhost], stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, start_new_session=True, env=_ctl_env()))


@atexit.register
def _wait_for_deletions() -> None:
    for proc in _DELETING:
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def vhost_url(vhost: str) -> str:
    """The AMQP URL of `vhost` on the test RabbitMQ, as the test user."""
    return f"amqp://{RABBIT_USER}:{RABBIT_PASSWORD}@{RABBIT_HOST}:{RABBIT_PORT}/{vhost}"


def add_vhost(vhost: str, timeout: float = 30) -> None:
    """The vhost made, with every permission for the test user, by one `rabbitmqctl import_definitions` (one
    Erlang VM's start instead of two: `add_vhost`, then `set_permissions`). The broker applies an import in the
    background, so this returns once the user can open a connection to the vhost, which needs both."""
    definitions = {"vhosts": [{"name": vhost}],
                   "permissions": [{"user": RABBIT_USER, "vhost": vhost, "configure": ".*", "write": ".*",
                                    "read": ".*"}]}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as fh:
        json.dump(definitions, fh)
        fh.flush()
        os.chmod(fh.name, 0o644)  # rabbitmqctl reads it as the rabbitmq user; nothing in it is secret
        _ctl("import_definitions", fh.name, "--format", "json")
    deadline = time.monotonic() + timeout
    while True:
        try:
            with Connection(vhost_url(vhost), connect_timeout=2) as conn:
                conn.connect()
            return
        except Exception:  # noqa: BLE001 - access refused (not there yet) or any other: try again until the deadline
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


@contextmanager
def rabbit_vhost(prefix: str = "zohosync_test") -> Iterator[str]:
    """A fresh vhost for one test run (so parallel runs never share a queue), deleted afterwards; yields its URL."""
    why = rabbit_available()
    if why:
        pytest.skip(why)
    vhost = f"{prefix}_{uuid.uuid4().hex[:10]}"
    try:
        add_vhost(vhost)
        yield vhost_url(vhost)
    finally:
        delete_vhost_later(vhost)


def recreate_vhost(url: str) -> None:
    """Delete and re-create the vhost of `url`: every connection to it drops and every message is gone."""
    vhost = url.rsplit("/", 1)[1]
    _ctl("delete_vhost", vhost)
    add_vhost(vhost)


@contextmanager
def broker_url(kind: str, redis_url: str) -> Iterator[str]:
    """The broker URL for `kind` (`redis`: the test Redis itself; `rabbitmq`: a fresh vhost)."""
    if kind == "redis":
        yield redis_url
    else:
        with rabbit_vhost() as url:
            yield url

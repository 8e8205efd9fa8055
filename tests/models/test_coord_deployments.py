"""The coordination store on a real Redis Cluster and a real Sentinel-watched master (private servers, own ports).

Every Lua script the project runs (rate limiter, OAuth invalidation, canaries, pull
slots) and redis-py's lock go through `REDIS_URL` exactly as in production: a CROSSSLOT
error or a client that cannot find the master fails these tests.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from models import coord
from models.settings import reset_settings
from tests.support.procs import wait_for

pytestmark = [pytest.mark.timeout(120),
              pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")]

PORT_BASE = int(os.environ.get("ZOHOSYNC_TEST_COORD_PORT_BASE", "8143"))


def _server(tmp: Path, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(["redis-server", *args], cwd=tmp, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)


def _ping(port: int) -> bool:
    done = subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True, check=False)
    return done.stdout.strip() == "PONG"


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


@pytest.fixture(scope="module")
def cluster_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cluster")
    ports = [PORT_BASE + i for i in range(3)]
    procs = [_server(tmp, ["--port", str(p), "--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{p}.conf",
                           "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]) for p in ports]
    try:
        for p in ports:
            wait_for(lambda p=p: _ping(p), timeout=10, message=f"redis {p}")
        subprocess.run(["redis-cli", "--cluster", "create", *[f"127.0.0.1:{p}" for p in ports],
                        "--cluster-replicas", "0", "--cluster-yes"], check=True, capture_output=True, timeout=30)
        wait_for(lambda: "cluster_state:ok" in subprocess.run(
            ["redis-cli", "-p", str(ports[0]), "cluster", "info"], capture_output=True, text=True,
            check=False).stdout, timeout=20, message="cluster ok")
        yield f"redis+cluster://127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}"
    finally:
        _stop(procs)


@pytest.fixture(scope="module")
def sentinel_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentinel")
    master, sentinel = PORT_BASE + 3, PORT_BASE + 4
    (tmp / "sentinel.conf").write_text(f"port {sentinel}\nbind 127.0.0.1\nsentinel monitor zm 127.0.0.1 {master} 1\n")
    procs = [_server(tmp, ["--port", str(master), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"])]
    try:
        wait_for(lambda: _ping(master), timeout=10, message="master")
        procs.append(_server(tmp, [str(tmp / "sentinel.conf"), "--sentinel"]))
        wait_for(lambda: _ping(sentinel), timeout=10, message="sentinel")
        yield f"sentinel://127.0.0.1:{sentinel}/2?master_name=zm"
    finally:
        _stop(procs)


@pytest.fixture(params=["cluster", "sentinel"])
def store(request, monkeypatch):
    url = request.getfixturevalue(f"{request.param}_url")
    monkeypatch.setenv("REDIS_URL", url)
    reset_settings()
    coord.forget_clients()
    yield coord.client()
    coord.forget_clients()
    monkeypatch.undo()
    reset_settings()


def test_the_rate_limiter_runs_its_scripts_on_the_deployment(store):
    from zoho.errors import RateLimited
    from zoho.ratelimit import RateLimiter

    lim = RateLimiter(per_minute=3, daily_budget=100, namespace=f"org-{time.time_ns()}")
    for _ in range(3):
        lim.acquire("realtime", timeout=0)
    with pytest.raises(RateLimited):
        lim.acquire("realtime", timeout=0)
    lim.pause(5)
    assert lim.try_acquire("realtime")[2] == "paused"
    assert lim.budget_status()["used_today"] == 3


def test_the_oauth_invalidation_and_canary_scripts_and_locks_run_on_the_deployment(store):
    from tasks.health import CANARY_DONE, CANARY_SENT
    from tasks.monitor import _CANARY_DONE_LUA
    from zoho.oauth import _INVALIDATE

    token, forced = coord.key("oauth:test", "token"), coord.key("oauth:test", "forced")
    store.hset(token, "access_token", "t1")
    assert store.eval(_INVALIDATE, 2, token, forced, "t1", 60000) == 1 and not store.exists(token)

    store.hset(CANARY_SENT, "maintenance", "100.0")
    store.eval(_CANARY_DONE_LUA, 2, CANARY_SENT, CANARY_DONE, "maintenance", "100.0", "101.0")
    assert not store.hexists(CANARY_SENT, "maintenance") and store.hget(CANARY_DONE, "maintenance") == b"101.0"

    lock = store.lock("zohosync:lock:images.sync_products", timeout=10, blocking=False)
    assert lock.acquire(blocking=False)
    assert not store.lock("zohosync:lock:images.sync_products", timeout=10).acquire(blocking=False)
    lock.release()


def test_pull_slots_and_shared_counters_work_on_the_deployment(store):
    from tasks import slots

    host = f"w{time.time_ns()}@test"
    assert slots.take(host, "t1", 1, 60) and slots.take(host, "t1", 1, 60)
    assert not slots.take(host, "t2", 1, 60)
    slots.release(host, "t1")
    assert slots.take(host, "t2", 1, 60)

    counter = coord.SharedCounter(f"deploy-{time.time_ns()}")
    counter.incr("unauthorized", 3)
    assert counter.counts() == {"unauthorized": 3}

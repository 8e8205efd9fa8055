"""Fault run: workers SIGKILLed, the broker losing every message, Redis and PostgreSQL restarted — under webhook load.

Runs once per supported broker. On Redis the broker is a private Redis (own port, own
data dir under a temp dir) that is also the coordination store, restarted empty. On
RabbitMQ the broker is a vhost made for the run, deleted and re-created mid-run (every
connection dropped, every message gone), while a private Redis is the coordination store
and is restarted too. PostgreSQL is private as well, so killing services never disturbs
the machine's shared ones. The load generator behaves like Zoho: each webhook is re-sent
until it gets a 2xx. With beat running and no manual step, every accepted event must end
`completed`, each product row must reflect its newest version, and no event may be
applied twice.
"""
from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from tests.support.brokers import BROKERS, rabbit_vhost, recreate_vhost
from tests.support.load import HEALER_ENV, Zoho, outcome, product_versions, states, unfinished
from tests.support.procs import (
    ROOT,
    Process,
    child_env,
    free_port,
    start_receiver,
    stop_all,
    wait_for,
    wait_worker_ready,
    worker_argv,
)
from tests.support.servers import PrivatePostgres, PrivateRedis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# 1,250 webhooks at 100/s: the load lasts 12.5 s, past the last fault (PostgreSQL restarted at ~12 s), so
# every fault lands under load. For a soak: CHAOS_PRODUCTS=500 CHAOS_RATE=200 (2,500 at 200/s), or more.
PRODUCTS = int(os.environ.get("CHAOS_PRODUCTS", "250"))
VERSIONS = int(os.environ.get("CHAOS_VERSIONS", "5"))
RATE = float(os.environ.get("CHAOS_RATE", "100"))
CONVERGE_SECONDS = int(os.environ.get("CHAOS_CONVERGE_SECONDS", "240"))


def launch_worker(env: dict[str, str], name: str) -> Process:
    """A worker with the pool flags the Procfile gives the products' group (`worker-catalog`), not waited for."""
    import shlex

    from tasks.stack import read_procfile

    argv = shlex.split(read_procfile()["worker-catalog"])
    pool = [a for flag in ("-P", "-c") if flag in argv for a in (flag, argv[argv.index(flag) + 1])]
    return Process(f"worker-{name}", worker_argv("tasks", name) + pool, env)


def start_worker(env: dict[str, str], name: str) -> Process:
    return wait_worker_ready(launch_worker(env, name))


@pytest.fixture
def private_services():
    pg, rd = PrivatePostgres(), PrivateRedis()
    yield {"pg": pg, "redis": rd, "db_url": pg.url, "redis_url": rd.url}
    rd.close()
    pg.close()


@pytest.fixture(params=BROKERS)
def broker(request, private_services):
    """(kind, broker URL, how to make the broker lose every message)."""
    svc = private_services
    if request.param == "redis":
        yield ("redis", svc["redis_url"], svc["redis"].restart)
    else:
        with rabbit_vhost("zohosync_chaos") as url:
            yield ("rabbitmq", url, lambda: recreate_vhost(url))


def test_every_accepted_event_completes_exactly_once_through_kills_and_restarts(private_services, broker, tmp_path):
    svc = private_services
    kind, broker_url, lose_every_message = broker
    env = child_env(DATABASE_URL=svc["db_url"], CELERY_BROKER_URL=broker_url, REDIS_URL=svc["redis_url"],
                    ZOHOSYNC_ENV_FILE="/nonexistent/.env", **HEALER_ENV)
    subprocess.run([str(Path(os.sys.executable).parent / "alembic"), "upgrade", "head"], cwd=ROOT, env=env,
                   check=True, capture_output=True)
    port = free_port()
    worker, web = launch_worker(env, "chaos1"), None  # the worker boots while the receiver does
    try:
        web = start_receiver(env, port)
        wait_worker_ready(worker)
    except BaseException:
        stop_all([p for p in (worker, web) if p is not None])
        raise
    beat = Process("beat", [str(Path(os.sys.executable).parent / "celery"), "-A", "tasks", "beat", "-l", "info"], env)
    zoho = Zoho(f"http://127.0.0.1:{port}/api/zoho/webhooks/products")
    bodies = product_versions(PRODUCTS, VERSIONS)
    faults: list[str] = []
    lost_at: list[float] = []

    def chaos():
        nonlocal worker
        time.sleep(4)
        worker.kill()  # SIGKILL the whole worker process group
        faults.append("worker SIGKILLed")
        time.sleep(1)
        worker = start_worker(env, "chaos2")
        time.sleep(3)
        lost_at.append(time.monotonic())
        lose_every_message()
        faults.append(f"{kind} broker lost every message")
        if kind != "redis":
            svc["redis"].restart()  # no persistence
            faults.append("coordination redis restarted empty")
        time.sleep(4)
        svc["pg"].restart()
        faults.append("postgres restarted")

    chaos_thread = threading.Thread(target=chaos)
    chaos_thread.start()
    engine = create_engine(svc["db_url"])
    try:
        zoho.send_all(bodies, RATE)
        chaos_thread.join()
        load_done = time.monotonic()
        try:
            wait_for(lambda: unfinished(engine) == 0, timeout=CONVERGE_SECONDS, interval=0.5,
                     message="every event completed")
        except AssertionError:
            raise AssertionError(f"{kind}: not converged after {CONVERGE_SECONDS}s; faults={faults}; "
                                 f"states={states(engine)}\n--- worker ---\n{worker.output()[-4000:]}"
                                 f"\n--- beat ---\n{beat.output()[-3000:]}") from None
        converged = time.monotonic()
        result = outcome(engine, zoho)
    finally:
        engine.dispose()
        stop_all([beat, worker, web])

    report = {"broker": kind, "webhooks": len(bodies), "accepted": len(zoho.accepted),
              "duplicates_answered": zoho.duplicates, "refused_then_retried": zoho.refused,
              "lost": len(result["lost"]), "applied_twice": len(result["twice"]),
              "converged_seconds_after_load": round(converged - load_done, 1),
              "converged_seconds_after_message_loss": round(converged - lost_at[0], 1), "faults": faults}
    artifacts = ROOT / "artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / f"chaos-report-{kind}.json").write_text(json.dumps(report, indent=2))
    print("chaos report:", json.dumps(report))

    assert len(zoho.accepted) + zoho.duplicates == len(bodies)
    assert result["lost"] == [] and result["twice"] == []
    assert len(faults) == (3 if kind == "redis" else 4)
    rows = result["rows"]
    assert len(rows) == PRODUCTS
    for zid, row in rows.items():
        p = int(zid[-8:])
        assert row.name == f"product {p} v{VERSIONS - 1}", zid
        assert str(row.unit_price) == f"{p}.{VERSIONS - 1:02d}0000"

"""The six measurements, each against a floor run in the same process on the same machine.

Each function empties the bench database and Redis db first, starts its own processes on
free ports, and returns `Figure` rows. Nothing here changes how the product behaves: the
real receiver, worker and puller run exactly as `make run` starts them.
"""
from __future__ import annotations

import json
import math
import os
import statistics
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import text

from bench import payloads
from bench.common import (
    ADMIN_TOKEN, BIN, ROOT, WEBHOOK_SECRET, Proc, cmdline, ensure_wrk, free_port, process_tree, reset_state, rss_kib,
    procfile_queues, start_gunicorn, start_worker, sync_worker_pool_args, wait_http,
)
from bench.table import Figure

LUA = ROOT / "bench" / "wrk_post.lua"
OURS_APP = "webhook_app.wsgi:app"
NAIVE_APP = "bench.naive_ingest:app"
NAIVE_QUEUE = "bench.naive"


@dataclass(frozen=True)
class Config:
    ingest_seconds: int = 12
    ingest_rounds: int = 2
    ingest_connections: int = 16
    ingest_max_rate: int = 1200  # bodies prepared per second of wrk (beyond it bodies repeat)
    worker_events: int = 4000
    e2e_rate: int = 200
    e2e_seconds: int = 60
    burst_events: int = 20_000
    pull_scale: float = 1.0
    full_pull_real_limit: bool = False
    dashboard_rows: int = 1_000_000
    dashboard_samples: int = 40
    profile_dir: Path | None = None

    @classmethod
    def quick(cls, **kw: Any) -> "Config":
        return cls(ingest_seconds=5, ingest_rounds=1, worker_events=600, e2e_seconds=10, burst_events=2000,
                   pull_scale=0.1, dashboard_rows=100_000, dashboard_samples=15, **kw)

    def profile(self, name: str) -> Path | None:
        return None if self.profile_dir is None else self.profile_dir / f"{name}.txt"


def _engine():
    from models.db import get_engine

    return get_engine()


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1000:.0f} ms"


def _ratio(ours: float | None, floor: float | None) -> float | None:
    return None if not ours or not floor else ours / floor


# -- 1. ingest ----------------------------------------------------------------------------------

def _request_file(directory: Path, name: str, entity: str, count: int, salt: int) -> Path:
    """One pre-signed request per line: `<path>\\t<signature>\\t<body>` (see wrk_post.lua)."""
    from webhook_app.signature import compute_signature

    path = directory / f"{name}.tsv"
    with path.open("wb") as f:
        for n in range(count):
            body = payloads.body(entity, n, salt)
            sig = compute_signature(WEBHOOK_SECRET, [("entity", entity)], body)  # the signed entity binds it
            f.write(f"/api/zoho/webhooks/{entity}?entity={entity}\t{sig}\t".encode() + body + b"\n")
    return path


def _wrk(url: str, requests_file: Path, seconds: int, connections: int, threads: int = 2) -> dict[str, Any]:
    out = subprocess.run([ensure_wrk(), f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "5s",
                          "-s", str(LUA), url, "--", str(requests_file), str(threads)],
                         capture_output=True, text=True, timeout=seconds + 60)
    for line in out.stdout.splitlines():
        if line.startswith("JSON "):
            return json.loads(line[5:])
    raise RuntimeError(f"wrk printed no summary:\n{out.stdout}\n{out.stderr}")


def _aggregate(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    reqs = sum(r["requests"] for r in rounds)
    secs = sum(r["duration_us"] for r in rounds) / 1e6
    return {"requests": reqs, "seconds": round(secs, 2), "rps": reqs / secs if secs else 0.0,
            "p50_ms": statistics.median(r["p50_us"] for r in rounds) / 1000,
            "p99_ms": max(r["p99_us"] for r in rounds) / 1000,
            "non2xx": sum(r["non2xx"] + r["errors"] for r in rounds), "rounds": rounds}


def ingest(cfg: Config) -> list[Figure]:
    """Signed webhooks into the real receiver vs the naive Flask floor, same gunicorn settings, wrk."""
    reset_state()
    salt = payloads.run_salt()
    work = Path(tempfile.mkdtemp(prefix="zohosync-bench-"))
    lines = cfg.ingest_max_rate * cfg.ingest_seconds
    files = {(app, r): _request_file(work, f"{app}-{r}", "products", lines, salt + (1 + r * 2 + (app == "ours")) * lines)
             for app in ("naive", "ours") for r in range(cfg.ingest_rounds)}
    warm = {app: _request_file(work, f"warm-{app}", "products", 2000, salt + (50 + (app == "ours")) * lines)
            for app in ("naive", "ours")}
    ports = {"ours": free_port(), "naive": free_port()}
    results: dict[str, list[dict[str, Any]]] = {"ours": [], "naive": []}
    try:
        with start_gunicorn("web", OURS_APP, ports["ours"], cfg.profile("receiver")), \
                start_gunicorn("naive-web", NAIVE_APP, ports["naive"]):
            for app in ("naive", "ours"):
                _wrk(f"http://127.0.0.1:{ports[app]}", warm[app], 2, cfg.ingest_connections)
            for r in range(cfg.ingest_rounds):
                order = ("naive", "ours") if r % 2 == 0 else ("ours", "naive")  # interleaved: drift hits both
                for app in order:
                    results[app].append(_wrk(f"http://127.0.0.1:{ports[app]}", files[(app, r)], cfg.ingest_seconds,
                                             cfg.ingest_connections))
    finally:
        for f in work.iterdir():
            f.unlink()
        work.rmdir()
    ours, naive = _aggregate(results["ours"]), _aggregate(results["naive"])
    with _engine().connect() as c:
        ours["recorded"] = c.execute(text("SELECT count(*) FROM tds_sync_queue")).scalar()
    ours["repeated_bodies"] = max(0, max(r["requests"] for r in results["ours"]) - lines)
    raw = {"ours": ours, "naive": naive, "connections": cfg.ingest_connections, "gunicorn": "-w 2 -k gthread --threads 8"}
    ratio = _ratio(ours["rps"], naive["rps"])
    return [
        Figure("ingest: signed webhooks, req/s", f"{ours['rps']:.0f}", f"{naive['rps']:.0f}", ratio, "≥ 0.90×",
               ratio is not None and ratio >= 0.9, raw),
        Figure("ingest: p50 / p99", f"{ours['p50_ms']:.1f} / {ours['p99_ms']:.1f} ms",
               f"{naive['p50_ms']:.1f} / {naive['p99_ms']:.1f} ms", _ratio(ours["p99_ms"], naive["p99_ms"]),
               "p99 < 100 ms", ours["p99_ms"] < 100),
        Figure("ingest: non-2xx + socket errors", str(ours["non2xx"]), str(naive["non2xx"]), None, "0",
               ours["non2xx"] == 0),
    ]


# -- 2 and 4. worker throughput, burst ------------------------------------------------------------

def _record_ours(entity: str, count: int, salt: int) -> list[int]:
    """Events recorded exactly as the receiver records them (same table, same dedupe key)."""
    from models.events import make_event, record_events
    from zoho.entities import get_entity
    from zoho.mapper import last_modified

    ent = get_entity(entity)
    key, make = payloads.RECORD[entity]
    ids: list[int] = []
    for start in range(0, count, 1000):
        batch = []
        for n in range(start, min(count, start + 1000)):
            record = make(n, salt)
            batch.append(make_event(entity, ent.record_id(record), "upsert", {key: record}, last_modified(record)))
        with _engine().begin() as c:
            ids.extend(i for i, _ in record_events(c, batch))
    return ids


def _record_naive(entity: str, count: int, salt: int) -> list[int]:
    key, make = payloads.RECORD[entity]
    ids: list[int] = []
    for start in range(0, count, 1000):
        rows = json.dumps([{"entity": entity, "payload": {key: make(n, salt)}}
                           for n in range(start, min(count, start + 1000))], ensure_ascii=False)
        with _engine().begin() as c:
            ids.extend(c.execute(text(
                "INSERT INTO bench_naive_events (entity, payload) SELECT e.entity, e.payload "
                "FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS e(entity text, payload jsonb) RETURNING id"),
                {"rows": rows}).scalars())
    return ids


def _publish_naive(ids: list[int]) -> None:
    from bench.naive_worker import celery as naive_celery

    with naive_celery.producer_or_acquire() as producer:
        for i in ids:
            naive_celery.send_task("naive.process", args=[i], queue=NAIVE_QUEUE, producer=producer)


def _ours_progress() -> tuple[int, int, float | None]:
    with _engine().connect() as c:
        done, dead, last = c.execute(text(
            "SELECT count(*) FILTER (WHERE status = 'completed'), count(*) FILTER (WHERE status = 'dead'), "
            "extract(epoch FROM max(completed_at)) FROM tds_sync_queue")).one()
    return done, dead, float(last) if last is not None else None


def _naive_progress(entity: str):
    table = "bench_naive_invoices" if entity == "invoices" else "bench_naive_products"

    def progress() -> tuple[int, int, float | None]:
        with _engine().connect() as c:
            done, last = c.execute(text(f"SELECT count(*), extract(epoch FROM max(done_at)) FROM {table}")).one()
        return done, 0, float(last) if last is not None else None

    return progress


class RssSampler(threading.Thread):
    """Peak resident memory of every process under a worker, sampled every half second."""

    def __init__(self, root: int):
        super().__init__(daemon=True)
        self.root = root
        self.peaks: dict[int, int] = {}
        self.names: dict[int, str] = {}
        self.stop_event = threading.Event()

    def run(self) -> None:
        while not self.stop_event.is_set():
            for pid in process_tree(self.root):
                rss = rss_kib(pid)
                if rss > self.peaks.get(pid, 0):
                    self.peaks[pid] = rss
                    self.names.setdefault(pid, cmdline(pid))
            self.stop_event.wait(0.5)

    def summary(self) -> dict[str, Any]:
        celery = {p: kib for p, kib in self.peaks.items() if "celery" in self.names.get(p, "")}
        main = self.peaks.get(self.root) if "celery" in self.names.get(self.root, "") else None
        if main is None and celery:
            main = celery[min(celery)]
        children = [kib for p, kib in celery.items() if celery.get(p) is not None and p != min(celery)]
        return {"main_mib": round((main or 0) / 1024, 1), "child_max_mib": round(max(children, default=0) / 1024, 1),
                "children_seen": len(children)}


def _wait_drained(worker, timeout: float = 120) -> float:
    """When the bench broker last held a message, ready or unacknowledged (polled every 20 ms)."""
    import redis

    from zoho.entities import registry

    client = redis.Redis.from_url(os.environ["CELERY_BROKER_URL"])
    queues = [e.queue for e in registry().values()] + [NAIVE_QUEUE]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pipe = client.pipeline()
        for q in queues:
            pipe.llen(q)
        pipe.hlen("unacked")
        if not any(pipe.execute()):
            return time.time()
        time.sleep(0.02)
    raise RuntimeError(f"messages still waiting after {timeout} s:\n{worker.output()[-3000:]}")


WORKER_GROUP = {"products": "worker-catalog", "invoices": "worker-documents"}
"""The Procfile group whose pool flags a figure's workers (ours and the floor alike) run with."""


def _drain(name: str, app: str, queues: str | None, count: int, progress, timeout: float,
           profile: Path | None = None, sample_rss: bool = False, group: str = "worker-catalog") -> dict[str, Any]:
    """Start a worker on a pre-filled queue and time it until every event is applied."""
    with start_worker(name, app, queues, profile, group) as worker:
        t0 = time.time()
        sampler = RssSampler(worker.pid) if sample_rss else None
        if sampler:
            sampler.start()
        last_change, seen = time.monotonic(), -1
        while True:
            done, dead, last = progress()
            if done + dead >= count:
                break
            if done != seen:
                seen, last_change = done, time.monotonic()
            if time.monotonic() - last_change > timeout:
                raise RuntimeError(f"{name}: stalled at {done}/{count} (dead {dead}):\n{worker.output()[-3000:]}")
            time.sleep(0.2)
        # Applied is not finished: an event applied together with others still has its own
        # message to run (and ack). The figure counts until the broker holds no message either.
        drained_at = _wait_drained(worker)
        if sampler:
            sampler.stop_event.set()
            sampler.join()
    applied_s = max(1e-6, (last or time.time()) - t0)
    seconds = max(applied_s, drained_at - t0)
    out = {"events": count, "completed": done, "dead": dead, "seconds": round(seconds, 2),
           "events_per_s": done / seconds, "applied_s": round(applied_s, 2), "drained_s": round(drained_at - t0, 2)}
    if sampler:
        out["rss"] = sampler.summary()
    return out


def _worker_pair(cfg: Config, entity: str, count: int, sample_rss: bool = False,
                 profile_name: str | None = None) -> tuple[dict, dict]:
    from bench import naive_worker
    from tasks.publish import publish_many

    reset_state()
    naive_worker.ensure_tables()
    salt = payloads.run_salt()
    _publish_naive(_record_naive(entity, count, salt))
    naive = _drain("bench-naive-worker", "bench.naive_worker", NAIVE_QUEUE, count, _naive_progress(entity), 60,
                   sample_rss=sample_rss, group=WORKER_GROUP[entity])
    ids = _record_ours(entity, count, salt)
    publish_many([(entity, i) for i in ids])
    ours = _drain("bench-worker", "tasks", procfile_queues(WORKER_GROUP[entity]), count, _ours_progress, 60,
                  cfg.profile(profile_name) if profile_name else None, sample_rss=sample_rss, group=WORKER_GROUP[entity])
    return ours, naive


def worker(cfg: Config) -> list[Figure]:
    """Events/s of `celery -A tasks worker -c 2` vs the naive task, products and 5-line invoices."""
    figures = []
    for entity, label in (("products", "products"), ("invoices", "invoices, 5 lines")):
        ours, naive = _worker_pair(cfg, entity, cfg.worker_events, profile_name=f"worker-{entity}")
        ratio = _ratio(ours["events_per_s"], naive["events_per_s"])
        ok = ratio is not None and ratio >= 1.0 and ours["dead"] == 0
        flags = " ".join(sync_worker_pool_args(WORKER_GROUP[entity])) or "-c 2"
        figures.append(Figure(f"worker: {label}, events/s ({flags})", f"{ours['events_per_s']:.0f}",
                              f"{naive['events_per_s']:.0f}", ratio, "≥ 1.00×", ok, {"ours": ours, "naive": naive}))
    return figures


def burst(cfg: Config) -> list[Figure]:
    """A backlog of queued product events drained by one worker (-c 2): time, rate, peak RSS per process."""
    ours, naive = _worker_pair(cfg, "products", cfg.burst_events, sample_rss=True)
    ratio = _ratio(ours["events_per_s"], naive["events_per_s"])
    cap_mib = 300_000 / 1024  # worker_max_memory_per_child in celeryconfig.py
    o, n = ours["rss"], naive["rss"]
    bounded = o["child_max_mib"] < cap_mib * 1.1 and o["main_mib"] < cap_mib
    return [
        Figure(f"burst: {cfg.burst_events:,} queued products drained",
               f"{ours['seconds']:.1f} s, {ours['events_per_s']:.0f}/s", f"{naive['seconds']:.1f} s, "
               f"{naive['events_per_s']:.0f}/s", ratio, "reported", None, {"ours": ours, "naive": naive}),
        Figure("burst: peak RSS, main / largest child",
               f"{o['main_mib']:.0f} / {o['child_max_mib']:.0f} MiB ({o['children_seen']} children)",
               f"{n['main_mib']:.0f} / {n['child_max_mib']:.0f} MiB", _ratio(o["child_max_mib"], n["child_max_mib"]),
               "bounded (< 300 MB/child)", bounded),
    ]


# -- 3. end-to-end latency ---------------------------------------------------------------------

def _pace(url: str, bodies: list[tuple[bytes, str]], rate: int, threads: int = 32) -> dict[str, Any]:
    """Open-loop sender: request i leaves at t0 + i/rate whatever the answers (latency is read from the DB)."""
    statuses: list[int] = [0] * len(bodies)
    t0 = time.monotonic() + 0.5

    def run(k: int) -> None:
        session = requests.Session()
        for i in range(k, len(bodies), threads):
            delay = t0 + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            body, sig = bodies[i]
            try:
                statuses[i] = session.post(url, data=body, timeout=10, headers={
                    "Content-Type": "application/json", "X-Zoho-Webhook-Signature": sig}).status_code
            except requests.RequestException:
                statuses[i] = -1

    pool = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    elapsed = time.monotonic() - t0
    return {"sent": len(bodies), "seconds": round(elapsed, 2), "offered_rate": round(len(bodies) / elapsed, 1),
            "non2xx": sum(1 for s in statuses if not 200 <= s < 300)}


_OURS_BACKLOG = "SELECT count(*) FROM tds_sync_queue WHERE status <> 'completed'"
_NAIVE_BACKLOG = "SELECT (SELECT count(*) FROM bench_naive_events) - (SELECT count(*) FROM bench_naive_products)"
_OURS_LATENCY = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.99) WITHIN GROUP (ORDER BY s), count(*)
  FROM (SELECT extract(epoch FROM completed_at - created_at) AS s FROM tds_sync_queue WHERE status = 'completed') x
"""
_NAIVE_LATENCY = """
SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY s), percentile_cont(0.99) WITHIN GROUP (ORDER BY s), count(*)
  FROM (SELECT extract(epoch FROM p.done_at - e.created_at) AS s
          FROM bench_naive_events e JOIN bench_naive_products p ON p.zoho_item_id = e.payload->'item'->>'item_id') x
"""


def _e2e_one(cfg: Config, web_app: str, worker_app: str, queues: str | None, backlog_sql: str, latency_sql: str,
             salt: int) -> dict[str, Any]:
    from webhook_app.signature import compute_signature

    count = cfg.e2e_rate * cfg.e2e_seconds
    bodies = []
    for n in range(count):
        body = payloads.body("products", n, salt)
        bodies.append((body, compute_signature(WEBHOOK_SECRET, [("entity", "products")], body)))
    port = free_port()
    samples: list[int] = []
    with start_gunicorn(f"e2e-web-{worker_app}", web_app, port), start_worker(f"e2e-{worker_app}", worker_app, queues):
        stop = threading.Event()

        def sample() -> None:
            while not stop.wait(2.0):
                with _engine().connect() as c:
                    samples.append(c.execute(text(backlog_sql)).scalar())

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        sent = _pace(f"http://127.0.0.1:{port}/api/zoho/webhooks/products?entity=products", bodies, cfg.e2e_rate)
        stop.set()
        sampler.join()
        with _engine().connect() as c:
            backlog_end = c.execute(text(backlog_sql)).scalar()
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            with _engine().connect() as c:
                if c.execute(text(backlog_sql)).scalar() <= 0:
                    break
            time.sleep(0.5)
    with _engine().connect() as c:
        p50, p99, n = c.execute(text(latency_sql)).one()
    return {**sent, "backlog_end": backlog_end, "backlog_samples": samples, "completed": n,
            "p50_s": float(p50) if p50 is not None else None, "p99_s": float(p99) if p99 is not None else None}


def e2e(cfg: Config) -> list[Figure]:
    """Receipt → completed at a steady rate: the real receiver + worker vs the naive pair."""
    from bench import naive_worker

    reset_state()
    naive_worker.ensure_tables()
    salt = payloads.run_salt()
    naive = _e2e_one(cfg, NAIVE_APP, "bench.naive_worker", NAIVE_QUEUE, _NAIVE_BACKLOG, _NAIVE_LATENCY, salt)
    ours = _e2e_one(cfg, OURS_APP, "tasks", procfile_queues("worker-catalog"), _OURS_BACKLOG, _OURS_LATENCY,
                    salt + 10_000_000)
    allowed_backlog = cfg.e2e_rate  # one second of traffic
    ok = (ours["p99_s"] is not None and ours["p99_s"] < 1.0 and ours["backlog_end"] <= allowed_backlog
          and ours["non2xx"] == 0)
    title = f"e2e: receipt → completed @ {cfg.e2e_rate}/s × {cfg.e2e_seconds} s, p50 / p99"
    return [
        Figure(title, f"{_ms(ours['p50_s'])} / {_ms(ours['p99_s'])}", f"{_ms(naive['p50_s'])} / {_ms(naive['p99_s'])}",
               _ratio(ours["p99_s"], naive["p99_s"]), "p99 < 1 s", ours["p99_s"] is not None and ours["p99_s"] < 1.0,
               {"ours": ours, "naive": naive}),
        Figure("e2e: backlog when sending stopped (max sampled), rate offered",
               f"{ours['backlog_end']} (max {max(ours['backlog_samples'], default=0)}), {ours['offered_rate']:.0f}/s",
               f"{naive['backlog_end']} (max {max(naive['backlog_samples'], default=0)}), {naive['offered_rate']:.0f}/s",
               None,
               f"≤ {allowed_backlog} (1 s), 0 non-2xx", ok),
    ]


# -- 5. full sandbox pull ----------------------------------------------------------------------

ZOHO_ENV = {
    "ZOHO_CLIENT_ID": "sandbox-client-id",
    "ZOHO_CLIENT_SECRET": "sandbox-client-secret",
    "ZOHO_REFRESH_TOKEN": "sandbox-refresh-token",
    "ZOHO_ORGANIZATION_ID": "748369814",
}


def _minimum_calls(base: str) -> tuple[int, dict[str, int]]:
    """Fewest calls a complete pull can make: ceil(n/200) list pages per list, plus one detail GET per
    record whose list row lacks what the ERP needs (document lines, price-book items, payment applications)."""
    from zoho.entities import registry

    per_source: dict[str, int] = {}
    for entity in registry().values():
        if not entity.sources:
            continue
        records = requests.get(f"{base}/sandbox/records/{entity.name}", timeout=30).json()["records"]
        for source in entity.sources:
            if source.key in per_source:
                continue
            if entity.name == "payments":
                kind = "vendor" if "vendor" in source.path else "customer"
                n = sum(1 for r in records if (r.get("payment_type") or "customer") == kind)
            else:
                n = len(records)
            per_source[source.key] = max(1, math.ceil(n / 200)) + (n if source.detail else 0)
    return sum(per_source.values()), per_source


def full_pull(cfg: Config) -> list[Figure]:
    """`zohosync pull ENTITY --full` for every list against the sandbox: calls made vs the minimum."""
    from models.settings import reset_settings
    from tasks.bulk import pull_entity
    from zoho.entities import registry
    from zoho.errors import RateLimited
    from zoho.ratelimit import RateLimiter

    reset_state()
    real = cfg.full_pull_real_limit
    limit = 100 if real else 100_000
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = Proc("sandbox", [str(BIN / "python"), "-m", "zoho_sandbox", "--port", str(port), "--seed", "42",
                               "--scale", str(cfg.pull_scale), "--rate-limit", str(limit),
                               "--daily-limit", "1000000"])
    saved = {k: os.environ.get(k) for k in [*ZOHO_ENV, "ZOHO_API_BASE_URL", "ZOHO_ACCOUNTS_URL",
                                            "ZOHO_RATE_LIMIT_PER_MINUTE", "ZOHO_DAILY_CALL_BUDGET"]}
    try:
        wait_http(f"{base}/sandbox/stats", sandbox)
        minimum, per_source = _minimum_calls(base)
        os.environ.update({**ZOHO_ENV, "ZOHO_API_BASE_URL": base, "ZOHO_ACCOUNTS_URL": base,
                           "ZOHO_RATE_LIMIT_PER_MINUTE": str(limit), "ZOHO_DAILY_CALL_BUDGET": "1000000"})
        reset_settings()
        covered: set[str] = set()
        runs = []
        aborted = None
        t0 = time.monotonic()
        for entity in registry().values():
            if not entity.sources or entity.sources[0].key in covered:
                continue
            covered.update(s.key for s in entity.sources)
            try:
                runs.append(pull_entity(entity.name, full=True))
            except RateLimited as e:  # what `zohosync pull` / bulk.pull do too: the run stops here
                aborted = f"{entity.name}: {e}"
                break
        seconds = time.monotonic() - t0
        stats = requests.get(f"{base}/sandbox/stats", timeout=10).json()
    finally:
        sandbox.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        reset_settings()
    calls = stats["api_calls"]
    bulk_per_minute = RateLimiter(per_minute=100, daily_budget=10_000).caps("bulk")[0]
    floor_minutes = minimum / 100
    ours_minutes = seconds / 60 if real else calls / bulk_per_minute
    raw = {"calls": calls, "minimum": minimum, "per_source_minimum": per_source, "rate_limited_429": stats["rate_limited"],
           "wall_seconds": round(seconds, 1), "sandbox_rate_limit": limit, "scale": cfg.pull_scale,
           "bulk_calls_per_minute_at_100": bulk_per_minute,
           "runs": [{k: r[k] for k in ("entity", "status", "fetched", "changed", "api_calls", "pages")} for r in runs]}
    calls_ratio = calls / minimum
    time_ratio = ours_minutes / floor_minutes
    how = "measured at 100/min" if real else f"projected: {calls} calls at the client's bulk cap {bulk_per_minute}/min"
    if aborted:
        raw["aborted"] = aborted
        return [
            Figure(f"full pull: API calls before it stopped (scale {cfg.pull_scale:g})", str(calls),
                   f"{minimum} (minimum)", None, "≤ 1.10×", False, raw),
            Figure("full pull: time at 100 calls/min (measured)", f"stopped after {seconds:.0f} s: RateLimited",
                   f"{floor_minutes:.1f} min", None, "≤ 1.10×", False, {"aborted": aborted}),
        ]
    return [
        Figure(f"full pull: API calls (scale {cfg.pull_scale:g}, {stats['rate_limited']} × 429)", str(calls),
               f"{minimum} (minimum)", calls_ratio, "≤ 1.10×", calls_ratio <= 1.1, raw),
        Figure(f"full pull: time at 100 calls/min ({how})", f"{ours_minutes:.1f} min", f"{floor_minutes:.1f} min",
               time_ratio, "≤ 1.10×", time_ratio <= 1.1,
               {"wall_seconds_at_raised_limit": None if real else round(seconds, 1)}),
    ]


# -- 6. dashboard ------------------------------------------------------------------------------

DASHBOARD_URLS = (
    "/api/zoho/dashboard/health", "/api/zoho/dashboard/stats", "/api/zoho/dashboard/metrics",
    "/api/zoho/dashboard/queue", "/api/zoho/dashboard/queue?page=3&per_page=200",
    "/api/zoho/dashboard/queue?status=failed", "/api/zoho/dashboard/queue?status=dead,failed&entity=products",
    "/api/zoho/dashboard/queue?entity=vendors", "/api/zoho/dashboard/dead-letters", "/api/zoho/dashboard/alerts",
    "/dashboard",
)


def seed_mirror(rows: int) -> float:
    """Seconds spent seeding the mirror (`tests.support.mirror`, also the index test's)."""
    from tests.support.mirror import seed_mirror as seed

    t0 = time.monotonic()
    seed(_engine(), rows, vacuum=True)
    return time.monotonic() - t0


def _p95(session: requests.Session, url: str, samples: int) -> tuple[float, int]:
    times, bad = [], 0
    for k in range(samples + 2):
        t = time.perf_counter()
        status = session.get(url, timeout=30).status_code
        if k >= 2:
            times.append(time.perf_counter() - t)
            bad += status != 200
    times.sort()
    return times[min(len(times) - 1, math.ceil(0.95 * len(times)) - 1)], bad


def dashboard(cfg: Config) -> list[Figure]:
    """p95 of each dashboard endpoint on a mirror of N rows, beside `/healthz` on the same server."""
    reset_state()
    seeded_in = seed_mirror(cfg.dashboard_rows)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    figures = []
    with start_gunicorn("dash-web", OURS_APP, port), start_worker("dash-worker", "tasks"):
        floor, _ = _p95(session, f"{base}/healthz", cfg.dashboard_samples)
        for path in DASHBOARD_URLS:
            p95, bad = _p95(session, base + path, cfg.dashboard_samples)
            figures.append(Figure(f"dashboard ({cfg.dashboard_rows:,} rows): GET {path}" + (f" [{bad} non-200]" if bad else ""),
                                  _ms(p95), _ms(floor), _ratio(p95, floor), "p95 < 200 ms", p95 < 0.2 and not bad,
                                  {"p95_s": p95, "healthz_p95_s": floor, "non200": bad,
                                   "seed_seconds": round(seeded_in, 1)}))
    return figures


# -- 7. slow clients ---------------------------------------------------------------------------

SLOW_CLIENTS = 40
"""Connections that send their headers and trickle the body (issue 14: 40 of them took the old receiver down)."""
GTHREAD_FLOOR = ["-w", "2", "-k", "gthread", "--threads", "8"]
"""The receiver's configuration before gunicorn.conf.py: threads a slow body holds."""


def _slow_clients_p99(name: str, extra_args: list[str], requests_count: int, salt: int) -> dict[str, Any]:
    from tests.support.slow_clients import legitimate_requests, p99, slow_body_connections

    port = free_port()
    # As shipped: `gunicorn webhook_app.wsgi:app` with nothing but gunicorn.conf.py; the floor adds its flags.
    with Proc(name, [str(BIN / "gunicorn"), *extra_args, "webhook_app.wsgi:app"],
              {**os.environ, "WEB_PORT": str(port)}) as proc:
        wait_http(f"http://127.0.0.1:{port}/healthz", proc)
        legitimate_requests(port, 20, WEBHOOK_SECRET, salt=salt + 1000, timeout=5)  # warm: pools, connections
        with slow_body_connections(port, SLOW_CLIENTS):
            time.sleep(1.0)
            results = legitimate_requests(port, requests_count, WEBHOOK_SECRET, salt=salt, timeout=5)
    answered = [seconds for _, status, seconds in results if status in (200, 202)]
    failed = len(results) - len(answered)
    # an unanswered request counts at the client's timeout: the p99 cannot hide it
    worst = [seconds if status in (200, 202) else max(seconds, 5.0) for _, status, seconds in results]
    return {"p99_s": p99(worst), "answered": len(answered), "failed": failed, "requests": len(results)}


def slow_clients(cfg: Config) -> list[Figure]:
    """p99 of /healthz and signed webhooks while 40 slow-body connections are open, beside the old gthread setup."""
    reset_state()
    count = 60 if cfg.worker_events < 1000 else 200
    ours = _slow_clients_p99("slow-ours", [], count, salt=1)
    floor = _slow_clients_p99("slow-gthread", GTHREAD_FLOOR, count, salt=2)
    return [Figure(f"{SLOW_CLIENTS} slow-body clients: p99 of /healthz + webhooks ({ours['failed']} of {count} failed; "
                   f"gthread floor: {floor['failed']} failed)",
                   _ms(ours["p99_s"]), _ms(floor["p99_s"]), _ratio(ours["p99_s"], floor["p99_s"]),
                   "p99 < 1 s, none failed", ours["p99_s"] < 1.0 and not ours["failed"],
                   {"ours": ours, "gthread_floor": floor})]


ALL = {"ingest": ingest, "worker": worker, "e2e": e2e, "burst": burst, "pull": full_pull, "dashboard": dashboard,
       "slowclients": slow_clients}

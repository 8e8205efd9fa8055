"""Two beats on one coordination Redis: each schedule entry is sent once per interval, and the standby takes over."""
from __future__ import annotations

import datetime as dt
import itertools
import re
import threading
import time
from collections import defaultdict

import pytest
from kombu import Connection, Consumer, Exchange, Queue

import beat_schedule
from tests.conftest import TEST_BROKER_URL
from tests.support.procs import BIN, Process, child_env, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.e2e, pytest.mark.timeout(180)]

LOCK_TIMEOUT = 12
LOOP = 2
"""`BEAT_MAX_LOOP_INTERVAL`: the holder renews its lock, a standby looks for it, a refused beat retries every 2 s.

The lock still outlives 6 renewals, so a beat slowed by a loaded machine keeps it."""
BEAT_ENV = {"BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT), "BEAT_MAX_LOOP_INTERVAL": str(LOOP)}
FAST = {name: entry["schedule"] for name, entry in beat_schedule.beat_schedule.items()
        if isinstance(entry["schedule"], float) and entry["schedule"] <= 30 and entry["task"].startswith("heal.")}


class Arrivals:
    """Consumes the maintenance queue (no worker runs) and notes when each task's message arrived."""

    def __init__(self, url: str):
        self.times: dict[str, list[float]] = defaultdict(list)
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.url = url

    def run(self) -> None:
        queue = Queue("maintenance", Exchange("zohosync", type="direct"), routing_key="maintenance")
        with Connection(self.url) as conn:
            def note(body, message):
                self.times[message.headers.get("task")].append(time.monotonic())
                message.ack()

            with Consumer(conn, queues=[queue], callbacks=[note], accept=["json"]):
                self.ready.set()
                while not self.stop.is_set():
                    try:
                        conn.drain_events(timeout=0.5)
                    except TimeoutError:
                        pass

    def __enter__(self):
        self.thread.start()
        assert self.ready.wait(30), "the maintenance queue is consumed"
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def beat(env, name: str) -> Process:
    return Process(f"beat-{name}", [str(BIN / "celery"), "-A", "tasks", "beat", "-l", "debug"], env)


def due_at_start() -> None:
    """Keep the FAST entries in the coordination Redis as last run one interval ago: a beat starting finds them due.

    What a beat restarted over the schedule an earlier beat left (redbeat keeps each entry's last run
    in Redis) finds; it spares the tests the first interval a brand-new schedule waits before sending.
    """
    from celery.schedules import schedule
    from redbeat import RedBeatSchedulerEntry

    from tasks import app

    for name, every in FAST.items():
        spec = beat_schedule.beat_schedule[name]
        entry = RedBeatSchedulerEntry(name, spec["task"], schedule(every), args=spec.get("args"),
                                      kwargs=spec.get("kwargs"), options=spec.get("options"), app=app)
        entry.last_run_at = app.now() - dt.timedelta(seconds=every)
        entry.save()


def holder(beats: list[Process]) -> Process:
    found = [b for b in beats if "Acquired lock" in b.output()]
    assert len(found) == 1, [b.output()[-1500:] for b in beats]
    return found[0]


def test_two_beats_send_each_entry_once_per_interval_and_the_standby_takes_over(database_url, redis_client):
    assert FAST, "the schedule has entries every ≤30 s to watch"
    env = child_env(**BEAT_ENV)
    task, interval = min(FAST.items(), key=lambda kv: kv[1])
    shortest = [t for t, i in FAST.items() if i == interval]
    due_at_start()
    with Arrivals(TEST_BROKER_URL) as seen:
        beats = [beat(env, "a"), beat(env, "b")]
        try:
            wait_for(lambda: any("Acquired lock" in b.output() for b in beats), timeout=30, message="a beat leads")
            started = time.monotonic()
            # The leader's watch lasts one whole interval of the most frequent entries (each sent twice);
            # the longer ones (sent once so far) are followed on through the takeover below.
            wait_for(lambda: all(len(seen.times[t]) >= 2 for t in shortest), timeout=interval + 30, interval=0.2,
                     message="the leader sends its most frequent entries a second time")
            leader = holder(beats)
            standby = next(b for b in beats if b is not leader)
            window = time.monotonic() - started
            for name, every in FAST.items():
                times = seen.times[name]
                assert times, f"{name} never sent"
                gaps = [b - a for a, b in itertools.pairwise(times)]
                assert all(g >= every * 0.8 for g in gaps), f"{name} sent twice within its interval: {gaps}"
                assert len([t for t in times if t >= started]) <= window // every + 1, (name, times)
            assert "Sending due task" not in standby.output(), "the standby beat sent something"

            leader.kill()  # SIGKILL: the lock is not released, it must expire
            killed = time.monotonic()
            before = len(seen.times[task])
            wait_for(lambda: len(seen.times[task]) > before, timeout=LOCK_TIMEOUT + 10 + interval + 10,
                     interval=0.2, message="the standby beat sends after the leader died")
            took_over = time.monotonic() - killed
            assert "Acquired lock" in standby.output()
            assert "Sending due task" in standby.output()
            print(f"standby took over and sent {task} {took_over:.1f} s after the leader was killed")
            # Through the takeover too, no entry was sent twice within its interval: the standby went on
            # from the leader's last runs (kept in the coordination Redis), not from its own start.
            for name, every in FAST.items():
                gaps = [b - a for a, b in itertools.pairwise(seen.times[name])]
                assert all(g >= every * 0.8 for g in gaps), f"{name} sent twice within its interval: {gaps}"
        finally:
            for b in beats:
                b.stop()
    assert not re.search(r"Traceback", standby.output()), standby.output()[-3000:]


def test_a_beat_whose_coordination_redis_restarts_empty_stands_by_and_goes_on_sending(tmp_path):
    """redbeat alone would die on the lost lock (LockNotOwnedError); ours takes it again and re-stores its schedule."""
    import subprocess

    from tests.support.procs import free_port

    port = free_port()

    def redis_server() -> subprocess.Popen:
        proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                                 "--appendonly", "no"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                                start_new_session=True)
        wait_for(lambda: subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True, text=True,
                                        check=False).stdout.strip() == "PONG", timeout=10, message="redis up")
        return proc

    server = redis_server()
    url = f"redis://127.0.0.1:{port}/0"
    b = beat(child_env(CELERY_BROKER_URL=url, REDIS_URL=url, **BEAT_ENV), "restart")
    try:
        wait_for(lambda: "Acquired lock" in b.output(), timeout=30, message="beat leads")
        server.terminate()
        server.wait(10)
        server = redis_server()  # no persistence: lock and schedule are gone
        wait_for(lambda: "holds the lock again" in b.output(), timeout=LOCK_TIMEOUT + 20, message="lock taken again")
        sent_before = b.output().count("Sending due task")
        wait_for(lambda: b.output().count("Sending due task") > sent_before, timeout=30, message="sending again")
        assert b.alive()
        assert subprocess.run(["redis-cli", "-p", str(port), "exists", "zohosync:{redbeat}::schedule"],
                              capture_output=True, text=True, check=False).stdout.strip() == "1"
    finally:
        b.stop()
        server.terminate()
        server.wait(10)


def test_a_beat_refused_by_the_broker_stays_up_and_sends_once_the_broker_takes_it(redis_client):
    """A RabbitMQ vhost re-created (permissions not yet granted) must not end beat, as plain Celery's does."""
    import uuid

    from tests.support.brokers import add_vhost, delete_vhost_later, rabbit_available, vhost_url

    why = rabbit_available()
    if why:
        pytest.skip(why)
    vhost = f"zohosync_test_beat_{uuid.uuid4().hex[:10]}"
    url = vhost_url(vhost)
    env = child_env(CELERY_BROKER_URL=url, REDIS_URL=TEST_BROKER_URL, **BEAT_ENV)
    due_at_start()  # beat has something to send (and is refused) at once
    b = beat(env, "refused")
    try:
        try:  # refused, and still there to be refused again a loop later
            wait_for(lambda: b.output().count("the broker refused beat") >= 2, timeout=30 + 2 * LOOP,
                     message="beat notes the refusal twice")
        except AssertionError:
            raise AssertionError(b.output()[-3000:]) from None
        assert b.alive(), b.output()[-3000:]
        add_vhost(vhost)
        with Arrivals(url) as seen:
            wait_for(lambda: any(seen.times.values()), timeout=30, interval=0.5,
                     message="beat sends once the vhost takes it")
        assert b.alive()
    finally:
        b.stop()
        delete_vhost_later(vhost)

"""Zero deadlocks by design (issue 15): the initial pull of the sandbox organisation, chained page by page on a
real worker, while live webhooks change records, finds no deadlock in PostgreSQL and puts no event through a retry."""
from __future__ import annotations

import secrets
import threading
import time

import pytest
from sqlalchemy import text

from tests.support.procs import child_env, free_port, start_receiver, start_worker, wait_for
from tests.tasks.bulk_support import SANDBOX_ENV, Zoho
from zoho_sandbox.server import SandboxServer

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def deadlocks(db) -> int:
    with db.connect() as c:
        return c.execute(text("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")).scalar()


def pulls_of_pull_all() -> int:
    """How many pulls `bulk.pull_all` enqueues: one per entity whose list no earlier entity already pulls."""
    from zoho.entities import registry

    covered, pulls = set(), 0
    for entity in registry().values():
        if entity.sources and entity.sources[0].key not in covered:
            covered.update(s.key for s in entity.sources)
            pulls += 1
    return pulls


def test_the_initial_pull_with_live_webhooks_deadlocks_nothing_and_retries_nothing(database_url, db, redis_client):
    with SandboxServer(scale=0.1, seed=11, rate_limit=100000, daily_limit=10_000_000,
                       webhook_retries=1, webhook_backoff=(0.1,)) as server:
        # Zoho credentials set (not sandbox mode): the receiver refuses the suite's published secrets.
        webhook_secret = secrets.token_hex(20)
        env = child_env(**SANDBOX_ENV, ZOHO_API_BASE_URL=server.url, ZOHO_ACCOUNTS_URL=server.url,
                        ZOHO_WEBHOOK_SECRET=webhook_secret, ADMIN_TOKEN=secrets.token_urlsafe(24))
        port = free_port()
        web = start_receiver(env, port)
        worker = start_worker(env, "nodeadlock", concurrency=4)  # every queue: sync.*, bulk, maintenance
        zoho = Zoho(server.url)
        zoho.control("POST", "/config", json={"webhook_url": f"http://127.0.0.1:{port}",
                                              "webhook_secret": webhook_secret})
        before = deadlocks(db)
        stop = threading.Event()

        def live() -> None:  # records keep changing in Zoho, and their webhooks arrive, while the pull runs
            while not stop.is_set():
                zoho.control("POST", "/live/tick", json={"ticks": 1, "changes": 6})
                time.sleep(0.2)

        ticker = threading.Thread(target=live, daemon=True)
        try:
            from tasks.bulk import pull_all

            pull_all.apply_async(kwargs={"full": False})
            ticker.start()

            def pulled() -> bool:  # every pull pull_all fans out has run to its end
                with db.connect() as c:
                    running, finished = c.execute(text(
                        "SELECT count(*) FILTER (WHERE status = 'running'), "
                        "count(*) FILTER (WHERE status <> 'running') FROM tds_sync_runs")).one()
                return running == 0 and finished >= pulls_of_pull_all()

            # Webhooks keep arriving for as long as the pull runs (it used to be a fixed 20 s).
            wait_for(pulled, timeout=300, interval=0.5, message="the initial pull finished")
            stop.set()
            ticker.join(30)

            def settled() -> bool:
                with db.connect() as c:
                    running = c.execute(text("SELECT count(*) FROM tds_sync_runs WHERE status = 'running'")).scalar()
                    waiting = c.execute(text("SELECT count(*) FROM tds_sync_queue "
                                             "WHERE status IN ('pending', 'processing')")).scalar()
                    runs = c.execute(text("SELECT count(*) FROM tds_sync_runs")).scalar()
                return runs > 0 and running == 0 and waiting == 0

            wait_for(settled, timeout=300, interval=0.5, message="the initial pull and the webhooks applied")
        finally:
            stop.set()
            worker.stop()
            web.stop()
        with db.connect() as c:
            events, retried, failed = c.execute(text(
                "SELECT count(*), count(*) FILTER (WHERE retry_count > 0), "
                "count(*) FILTER (WHERE status IN ('failed', 'dead')) FROM tds_sync_queue")).one()
            sources = dict(c.execute(text("SELECT source, count(*) FROM tds_sync_queue GROUP BY source")).all())
            statuses = dict(c.execute(text("SELECT status, count(*) FROM tds_sync_runs GROUP BY status")).all())
        assert events > 500 and sources.get("webhook", 0) > 20, sources
        assert statuses == {"completed": statuses.get("completed")}, statuses
        assert deadlocks(db) - before == 0
        assert (retried, failed) == (0, 0)

"""OAuth against the sandbox's token endpoint: one shared token, one refresh at a time, failures never looped."""
from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
import time

import pytest
import requests
from sqlalchemy import text

from models.settings import reset_settings
from tests.zoho.client import workers
from tests.zoho.client.conftest import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, Sandbox
from zoho.errors import AuthError, RateLimited
from zoho.oauth import TokenManager

CLIENT_KEY = hashlib.sha256(f"{CLIENT_ID}\x00{REFRESH_TOKEN}".encode()).hexdigest()


def counting_session() -> tuple[requests.Session, list[str]]:
    """A session that records each request it sends (a requests hook, not a patch)."""
    session, sent = requests.Session(), []
    session.hooks["response"].append(lambda r, *a, **k: sent.append(r.request.url))
    return session, sent


def test_one_refresh_serves_every_manager_through_the_redis_cache(sandbox: Sandbox, redis_client) -> None:
    first = TokenManager().get_token()
    assert TokenManager().get_token() == first
    assert TokenManager().get_token() == first
    assert sandbox.stats()["token_refreshes"] == 1
    keys = [k.decode() for k in redis_client.keys("zohosync:oauth:*")]
    assert keys == [f"zohosync:oauth:{{{CLIENT_KEY[:32]}}}:token"]
    dump = repr(keys) + repr(redis_client.hgetall(keys[0]))
    assert CLIENT_SECRET not in dump and REFRESH_TOKEN not in dump


def test_a_token_inside_the_five_minute_margin_is_refreshed_and_one_outside_is_kept(sandbox: Sandbox, redis_client) -> None:
    manager = TokenManager()
    token = manager.get_token()
    key = f"zohosync:oauth:{{{CLIENT_KEY[:32]}}}:token"
    now = time.time()
    # an hour-long token 54 minutes old: 6 minutes left, outside the margin — kept
    redis_client.hset(key, mapping={"expires_at": repr(now + 360), "refreshed_at": repr(now - 3240)})
    assert manager.get_token() == token
    assert manager.token_status()["stale"] is False
    # 4 minutes left: inside the margin — refreshed before Zoho would reject it
    redis_client.hset(key, mapping={"expires_at": repr(now + 240), "refreshed_at": repr(now - 3360)})
    assert manager.token_status()["stale"] is True
    fresh = manager.get_token()
    assert fresh != token
    assert sandbox.stats()["token_refreshes"] == 2
    assert manager.token_status()["seconds_left"] > 3500


def test_twenty_concurrent_threads_and_processes_cause_exactly_one_refresh(sandbox: Sandbox) -> None:
    ctx = multiprocessing.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    # ten processes for one interpreter start: a spawned process forks them (workers.forked)
    forker = ctx.Process(target=workers.forked, args=(workers.fetch_token, [(ready, go, out)] * 10))
    threads = [threading.Thread(target=workers.fetch_token, args=(ready, go, out)) for _ in range(10)]
    for worker in [forker, *threads]:
        worker.start()
    for _ in range(20):
        assert ready.acquire(timeout=60)
    go.set()
    results = [out.get(timeout=60) for _ in range(20)]
    for worker in [forker, *threads]:
        worker.join(10)
    assert forker.exitcode == 0
    assert all(kind == "ok" for kind, *_ in results), results
    assert len({token for _, token, _ in results}) == 1
    pids = [pid for *_, pid in results]  # ten processes of their own, ten threads of this one
    assert len(set(pids)) == 11 and pids.count(os.getpid()) == 10
    stats = sandbox.stats()
    assert stats["token_refreshes"] == 1 and stats["token_refreshes_denied"] == 0


def test_the_refreshed_token_is_upserted_into_zoho_tokens(sandbox: Sandbox, db) -> None:
    manager = TokenManager()
    token = manager.get_token()
    assert manager.invalidate(token)
    manager.get_token()
    with db.connect() as c:
        rows = c.execute(text("SELECT client_key, refresh_count, expires_at > now() + interval '50 minutes' "
                              "FROM zoho_tokens")).all()
    assert rows == [(CLIENT_KEY, 2, True)]


def test_a_database_failure_does_not_stop_the_refresh(sandbox: Sandbox, monkeypatch, caplog) -> None:
    from models.db import reset_engine

    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    reset_engine()
    try:
        token = TokenManager().get_token()
    finally:
        monkeypatch.undo()
        reset_settings()
        reset_engine()
    assert token
    assert any("could not record" in r.getMessage() for r in caplog.records)


def test_invalid_credentials_are_an_auth_error_that_is_not_retried(sandbox: Sandbox, monkeypatch) -> None:
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", "1000.revoked-refresh-token")
    reset_settings()
    session, sent = counting_session()
    for _ in range(3):
        with pytest.raises(AuthError) as e:
            TokenManager(session=session).get_token()
        assert "invalid_code" in str(e.value)
    assert len(sent) == 1  # remembered: twenty workers would not each hammer the dead token
    assert sandbox.stats()["token_refreshes"] == 0


def test_too_many_refreshes_is_rate_limited_not_looped(sandbox: Sandbox) -> None:
    for _ in range(10):  # someone else used up Zoho's 10 refreshes per 10 minutes
        assert sandbox.mint_token().status_code == 200
    session, sent = counting_session()
    for _ in range(3):
        with pytest.raises(RateLimited) as e:
            TokenManager(session=session).get_token()
        assert e.value.retry_after and e.value.retry_after > 0
    assert len(sent) == 1
    assert sandbox.stats()["token_refreshes_denied"] == 1
    assert TokenManager().token_status()["blocked"] == "ratelimited"


def test_invalidate_drops_only_the_named_token_and_refuses_a_second_forced_refresh(sandbox: Sandbox) -> None:
    manager = TokenManager()
    t1 = manager.get_token()
    assert manager.invalidate("some-older-token")  # not ours to drop: already replaced, retry with the cached one
    assert manager.get_token() == t1
    assert manager.invalidate(t1)
    t2 = manager.get_token()
    assert t2 != t1
    # a token minted by a forced refresh moments ago is rejected too: scope, not age — do not retry
    assert manager.invalidate(t2) is False
    assert manager.get_token() == t2
    assert sandbox.stats()["token_refreshes"] == 2


def test_token_status_tells_expiry_without_the_token(sandbox: Sandbox) -> None:
    manager = TokenManager()
    assert manager.token_status()["cached"] is False
    token = manager.get_token()
    status = manager.token_status()
    assert status["cached"] is True and status["stale"] is False
    assert 3500 < status["seconds_left"] <= 3600
    assert status["expires_at"] and status["refreshed_at"]
    assert token not in repr(status)


def test_partly_configured_credentials_are_a_start_up_error_naming_what_is_missing(sandbox: Sandbox,
                                                                                   monkeypatch) -> None:
    """Issue 14: a missing ZOHO_CLIENT_SECRET silently fell back to sandbox mode; now no process starts."""
    from models.settings import ConfigError

    monkeypatch.delenv("ZOHO_CLIENT_SECRET")
    reset_settings()
    with pytest.raises(ConfigError, match="ZOHO_CLIENT_SECRET missing"):
        TokenManager().get_token()


# -- the token cache's logic on fakeredis (the tests above run it on real Redis) ----------------------

def test_on_fakeredis_one_refresh_serves_every_manager_and_invalidate_drops_only_that_token(sandbox: Sandbox) -> None:
    import fakeredis

    store = fakeredis.FakeRedis()
    first = TokenManager(redis_client=store).get_token()
    assert TokenManager(redis_client=store).get_token() == first
    assert sandbox.stats()["token_refreshes"] == 1
    manager = TokenManager(redis_client=store, forced_refresh_interval=60)
    assert manager.invalidate("not-the-current-token") is True  # replaced already: retry, touch nothing
    assert TokenManager(redis_client=store).get_token() == first
    assert manager.invalidate(first) is True
    second = TokenManager(redis_client=store).get_token()
    assert second != first and sandbox.stats()["token_refreshes"] == 2


def test_on_fakeredis_the_refresh_lock_is_released_only_by_its_owner() -> None:
    import fakeredis

    from zoho.oauth import _RELEASE

    store = fakeredis.FakeRedis()
    store.set("lock", "owner-a")
    assert store.eval(_RELEASE, 1, "lock", "owner-b") == 0 and store.get("lock") == b"owner-a"
    assert store.eval(_RELEASE, 1, "lock", "owner-a") == 1 and store.get("lock") is None

"""The coordination store: URL forms → redis-py clients, and every multi-key script's keys in one cluster slot."""
from __future__ import annotations

import fakeredis
import pytest
import redis
from redis.sentinel import SentinelConnectionPool

from models import coord
from models.coord import CoordinationNotConfigured, StoreSpec, hash_slot, key, parse_url
from models.settings import reset_settings

# -- URLs ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("url, kind, hosts, db, ssl", [
    ("redis://127.0.0.1:6379/3", "redis", (("127.0.0.1", 6379),), 3, False),
    ("rediss://:pw@cache.example.com:6380/0", "redis", (("cache.example.com", 6380),), 0, True),
    ("redis://localhost", "redis", (("localhost", 6379),), 0, False),
    ("unix:///run/redis.sock?db=2", "redis", (), 2, False),
    ("sentinel://s1:26379,s2:26380,s3/4?master_name=mymaster", "sentinel",
     (("s1", 26379), ("s2", 26380), ("s3", 26379)), 4, False),
    ("sentinel://s1:26379;sentinel://s2:26379/1?master_name=m", "sentinel", (("s1", 26379), ("s2", 26379)), 1, False),
    ("rediss+sentinel://u:pw@[::1]:26379/0?master_name=m", "sentinel", (("::1", 26379),), 0, True),
    ("redis+cluster://n1:7000,n2:7001", "cluster", (("n1", 7000), ("n2", 7001)), 0, False),
    ("redis://n1:7000/0?cluster=true", "cluster", (("n1", 7000),), 0, False),
    ("rediss+cluster://n1:7000", "cluster", (("n1", 7000),), 0, True),
])
def test_every_supported_url_form_parses_to_its_deployment(url, kind, hosts, db, ssl):
    spec = parse_url(url)
    assert (spec.kind, spec.hosts, spec.db, spec.ssl) == (kind, hosts, db, ssl)


def test_sentinel_credentials_and_master_name_come_from_the_url_and_stay_out_of_repr():
    spec = parse_url("sentinel://app:s3cret-pass@s1:26379/2?master_name=zs&sentinel_password=sentinel-pass")
    assert (spec.username, spec.password, spec.master_name, spec.sentinel_password) == (
        "app", "s3cret-pass", "zs", "sentinel-pass")
    assert "s3cret" not in repr(spec) and "sentinel-pass" not in repr(spec)


@pytest.mark.parametrize("url, words", [
    ("amqp://guest:guest@localhost//", "scheme"),
    ("sentinel://s1:26379/0", "master_name"),
    ("redis+cluster://n1:7000/3", "database 0"),
    ("redis://localhost/abc", "number"),
    ("localhost:6379", "redis://"),
])
def test_urls_that_name_no_usable_redis_are_refused_with_a_reason(url, words):
    with pytest.raises(CoordinationNotConfigured, match=words):
        parse_url(url)


def test_a_plain_url_builds_a_redis_client_on_that_database():
    client = coord.build_client(parse_url("redis://127.0.0.1:6379/7"))
    assert type(client) is redis.Redis
    assert client.connection_pool.connection_kwargs["db"] == 7


def test_a_sentinel_url_builds_a_client_that_asks_the_sentinels_for_the_named_master():
    client = coord.build_client(parse_url("sentinel://:pw@s1:26379,s2:26379/3?master_name=zohosync-master"))
    pool = client.connection_pool
    assert isinstance(pool, SentinelConnectionPool)
    assert pool.service_name == "zohosync-master" and pool.connection_kwargs["db"] == 3
    assert pool.connection_kwargs["password"] == "pw"
    assert [(s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in pool.sentinel_manager.sentinels] == [("s1", 26379), ("s2", 26379)]


def test_the_store_is_redis_url_else_a_redis_broker_and_required_with_rabbitmq(monkeypatch):
    try:
        monkeypatch.setenv("CELERY_BROKER_URL", "redis://127.0.0.1:6379/9")
        monkeypatch.delenv("REDIS_URL", raising=False)
        reset_settings()
        assert coord.store_url() == "redis://127.0.0.1:6379/9"
        monkeypatch.setenv("REDIS_URL", "sentinel://s1:26379/0?master_name=m")
        reset_settings()
        assert coord.store_url() == "sentinel://s1:26379/0?master_name=m"
        monkeypatch.setenv("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//")
        monkeypatch.delenv("REDIS_URL")
        reset_settings()
        with pytest.raises(CoordinationNotConfigured, match="REDIS_URL is required"):
            coord.store_url()
    finally:
        monkeypatch.undo()
        reset_settings()


def test_redbeat_gets_the_same_deployment_in_its_own_conventions():
    plain = coord.redbeat_config("redis://127.0.0.1:6379/5")
    assert plain["redbeat_redis_url"] == "redis://127.0.0.1:6379/5"
    sentinel = coord.redbeat_config("sentinel://:pw@s1:26379,s2:26380/2?master_name=zm")
    assert sentinel["redbeat_redis_url"].startswith("redis-sentinel")
    assert sentinel["redbeat_redis_options"]["sentinels"] == [("s1", 26379), ("s2", 26380)]
    assert (sentinel["redbeat_redis_options"]["service_name"], sentinel["redbeat_redis_options"]["db"]) == ("zm", 2)
    cluster = coord.redbeat_config("redis+cluster://n1:7000,n2:7001")
    assert cluster["redbeat_redis_options"]["cluster"] is True and cluster["redbeat_redis_url"] == "redis://n1:7000/0"


# -- hash tags: no script ever spans two cluster slots ------------------------------------------------

def test_key_puts_the_resource_between_braces():
    assert key("ratelimit:org1", "window") == "zohosync:ratelimit:{org1}:window"
    assert key("counters:webhook_refusals") == "zohosync:counters:{webhook_refusals}"
    assert hash_slot("{abc}:x") == hash_slot("zzz{abc}") != hash_slot("abc:x")


def _same_slot(keys: list[str]) -> bool:
    return len({hash_slot(k) for k in keys}) == 1


def test_the_rate_limiters_three_script_keys_share_a_slot():
    from zoho.ratelimit import RateLimiter

    for namespace in ("default", "771340721", "org-with:colons"):
        keys = RateLimiter(redis_client=fakeredis.FakeRedis(), namespace=namespace)._keys()
        assert len(keys) == 3 and _same_slot(keys), keys


def test_the_oauth_caches_script_keys_share_a_slot(monkeypatch):
    from zoho.oauth import TokenManager

    monkeypatch.setenv("ZOHO_CLIENT_ID", "1000.CLIENTID")
    monkeypatch.setenv("ZOHO_CLIENT_SECRET", "client-secret-value")
    monkeypatch.setenv("ZOHO_REFRESH_TOKEN", "1000.refresh.token")
    monkeypatch.setenv("ZOHO_ORGANIZATION_ID", "10234695")  # all four or none: partial credentials stop a process
    reset_settings()
    try:
        keys = TokenManager(redis_client=fakeredis.FakeRedis())._keys()
    finally:
        monkeypatch.undo()
        reset_settings()
    assert set(keys) == {"token", "lock", "failure", "forced"} and _same_slot(list(keys.values()))


def test_the_canary_script_keys_share_a_slot():
    from tasks.health import CANARY_DONE, CANARY_PUBLISHED, CANARY_SENT

    assert _same_slot([CANARY_SENT, CANARY_DONE, CANARY_PUBLISHED])


def test_redbeats_keys_share_a_slot():
    import celeryconfig

    prefix = celeryconfig.redbeat_key_prefix
    assert _same_slot([prefix + ":lock", prefix + ":schedule", prefix + ":statics", prefix + "heal.dead_letter"])


# -- shared counters ------------------------------------------------------------------------------------

def test_counters_add_up_over_processes(redis_client):
    a, b = coord.SharedCounter("test-counter"), coord.SharedCounter("test-counter")  # two processes' objects
    a.incr("unauthorized")
    a.incr("unauthorized")
    b.incr("bad_json")
    assert b.counts() == {"bad_json": 1}  # a's increments reach the store on its next flush (every 2 s)
    a.flush()
    assert b.counts() == a.counts() == {"unauthorized": 2, "bad_json": 1}


def test_increments_made_while_the_store_is_unreachable_are_kept_and_added_once_it_answers(redis_client, monkeypatch):
    counter = coord.SharedCounter("test-outage")
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:1/0")
    reset_settings()
    try:
        for _ in range(100):
            counter.incr("unauthorized")  # never raises: a counter must not fail the request it counts
        assert counter.counts() == {"unauthorized": 100}
    finally:
        monkeypatch.undo()
        reset_settings()
    assert counter.counts() == {"unauthorized": 100}
    assert redis_client.hget(counter.key, "unauthorized") == b"100"


def test_a_spec_is_a_value():
    assert StoreSpec("redis", "redis://x") == StoreSpec("redis", "redis://x")

"""Tests of the real-Redis test harness itself (tests/redis_server.py and conftest.py)."""

from __future__ import annotations

import os
import time

import pytest
import redis

from redis_server import RedisServer

READER_RULES = "-@all +get +mget +scan +pttl +ttl +type +ping ~telemetry:*"


def test_server_starts_on_loopback_and_answers_ping(redis_server: RedisServer) -> None:
    """The session server listens on 127.0.0.1, never 6379, and answers PING."""
    assert redis_server.running
    assert redis_server.port != 6379
    assert redis_server.url == f"redis://127.0.0.1:{redis_server.port}/0"
    assert redis.Redis.from_url(redis_server.url).ping() is True


def test_real_server_tests_are_marked_redis(
    request: pytest.FixtureRequest, redis_client: redis.Redis
) -> None:
    """A test using a real-server fixture gets the `redis` marker automatically."""
    assert request.node.get_closest_marker("redis") is not None


def test_fake_redis_tests_are_not_marked_redis(request: pytest.FixtureRequest, fake_redis) -> None:
    """A fakeredis-only test is not marked `redis`, and fakeredis works."""
    assert request.node.get_closest_marker("redis") is None
    fake_redis.set("telemetry:payment:pym_1", b"{}")
    assert fake_redis.get("telemetry:payment:pym_1") == b"{}"


def test_redis_client_starts_empty(redis_client: redis.Redis) -> None:
    """Each test's redis_client sees an empty database (left dirty for the next test)."""
    assert redis_client.dbsize() == 0
    redis_client.set("telemetry:payment:pym_leftover", "x")


def test_redis_client_starts_empty_again(redis_client: redis.Redis) -> None:
    """The key written by the previous test is gone."""
    assert redis_client.dbsize() == 0


def test_commandstats_counts_gets(redis_server: RedisServer, redis_client: redis.Redis) -> None:
    """INFO commandstats is parsed into lowercase command name → calls."""
    redis_client.set("telemetry:payment:pym_1", "v")
    for _ in range(3):
        redis_client.get("telemetry:payment:pym_1")
    redis_client.mget(["telemetry:a", "telemetry:b"])
    stats = redis_server.commandstats()
    assert stats["get"] == 3
    assert stats["mget"] == 1
    assert stats["set"] == 1
    redis_server.reset_stats()
    assert "get" not in redis_server.commandstats()


def test_acl_user_is_limited_to_its_rules(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """A read-only ACL user can GET telemetry:* keys but gets NOPERM elsewhere."""
    redis_client.set("telemetry:x", "1")
    redis_client.set("other:x", "2")
    url = redis_server.add_acl_user("reader", "s3cret/with:odd@chars", READER_RULES)
    assert url.startswith("redis://reader:") and url.endswith(f"@127.0.0.1:{redis_server.port}/0")
    reader = redis.Redis.from_url(url, decode_responses=True)
    try:
        assert reader.ping() is True
        assert reader.get("telemetry:x") == "1"
        assert reader.mget(["telemetry:x", "telemetry:missing"]) == ["1", None]
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.set("telemetry:x", "changed")
        with pytest.raises(redis.exceptions.NoPermissionError):
            reader.get("other:x")
    finally:
        reader.close()
    assert redis_client.get("telemetry:x") == b"1"


def test_wrong_acl_password_is_rejected(
    redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    """Logging in with a wrong password fails with an authentication error."""
    redis_server.add_acl_user("reader", "right", READER_RULES)
    bad = redis.Redis.from_url(f"redis://reader:wrong@127.0.0.1:{redis_server.port}/0")
    with pytest.raises(redis.exceptions.AuthenticationError):
        bad.ping()


def test_kill_then_start_on_the_same_port(fresh_redis_server: RedisServer) -> None:
    """After SIGKILL the server is unreachable; start() brings it back, empty, on the same port."""
    port = fresh_redis_server.port
    client = fresh_redis_server.client(socket_connect_timeout=0.5, retry=None)
    client.set("telemetry:payment:pym_1", "v")
    fresh_redis_server.kill()
    assert not fresh_redis_server.running
    with pytest.raises(redis.exceptions.ConnectionError):
        client.ping()
    fresh_redis_server.start()
    assert fresh_redis_server.port == port
    assert client.ping() is True  # the same client reconnects by itself
    assert client.dbsize() == 0  # nothing is persisted
    client.close()


def test_stop_then_start(fresh_redis_server: RedisServer) -> None:
    """A graceful stop and start also keeps the port."""
    port = fresh_redis_server.port
    fresh_redis_server.stop()
    assert not fresh_redis_server.running
    fresh_redis_server.start()
    assert fresh_redis_server.port == port
    assert fresh_redis_server.client().ping() is True


def test_pause_times_out_and_resume_recovers(fresh_redis_server: RedisServer) -> None:
    """A paused server makes reads time out; after resume the same client works again."""
    client = fresh_redis_server.client(socket_timeout=0.5, retry=None)
    assert client.ping() is True
    fresh_redis_server.pause()
    started = time.monotonic()
    with pytest.raises(redis.exceptions.TimeoutError):
        client.ping()
    assert time.monotonic() - started < 5
    fresh_redis_server.resume()
    assert client.ping() is True
    client.close()


def test_stop_does_not_hang_on_a_paused_server(fresh_redis_server: RedisServer) -> None:
    """Stopping a paused server does not hang (SIGCONT follows SIGTERM)."""
    fresh_redis_server.pause()
    started = time.monotonic()
    fresh_redis_server.stop()
    assert not fresh_redis_server.running
    assert time.monotonic() - started < 5


def test_missing_redis_server_gives_install_hint() -> None:
    """Without the binary, RedisServer raises RuntimeError telling how to install it."""
    with pytest.raises(RuntimeError, match=r"apt-get install -y redis-server"):
        RedisServer(executable="redis-server-that-does-not-exist")


def test_port_6379_is_refused() -> None:
    """Tests cannot reach the machine's own Redis on 6379 by accident."""
    with pytest.raises(redis.exceptions.ConnectionError, match=r"refused by tests/conftest\.py"):
        redis.Redis(host="127.0.0.1", port=6379, retry=None).ping()


def test_environment_is_isolated(settings_factory) -> None:
    """REDIS_URL and friends from the developer's shell are not visible; defaults apply."""
    assert "REDIS_URL" not in os.environ
    settings = settings_factory()
    assert settings.demo
    assert settings.telemetry_namespace == "telemetry"
    assert settings_factory(telemetry_namespace="other").telemetry_namespace == "other"

"""Fixtures of the AppTest suites."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from apptest_support import use_redis
from redis_server import RedisServer


@pytest.fixture
def real_redis(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    redis_server: RedisServer,
    redis_client: redis.Redis,
) -> redis.Redis:
    """The app in real mode on the (emptied) session redis-server; its client, to seed it."""
    use_redis(monkeypatch, tmp_path, redis_server.url)
    return redis_client

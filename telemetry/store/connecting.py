"""Turning ``Settings`` into a client: a single node, a cluster, or the demo's fakeredis."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..writer import seed_records
from .base import store_errors, url_errors
from .cluster import connect_cluster
from .single import RECONNECTS_ATTR, Reconnects

if TYPE_CHECKING:
    from ..config import Settings


def connect(settings: Settings) -> Any:
    """A client for ``REDIS_URL``; in demo mode, an embedded fakeredis with generated data.

    Connecting is lazy: nothing is sent until the first command, so this
    never raises for an unreachable server (``Store.ping`` tells). Except with
    ``REDIS_CLUSTER=1``: a cluster client reads the slot map at once, so an
    unreachable cluster raises ``StoreUnavailableError`` here.
    """
    if settings.demo:
        return demo_client(settings)
    url = settings.redis_url.get_secret_value()  # type: ignore[union-attr]  # not demo
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_connect_timeout,
        "socket_timeout": settings.redis_socket_timeout,
        # One quick retry covers a connection the server closed while idle; more
        # would only multiply the wait when Redis is really down.
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
        "decode_responses": False,
        # No CLIENT SETINFO on connect: the least-privilege ACL user may not run
        # it, and every refusal would land in the server's ACL LOG.
        "driver_info": None,
    }
    with store_errors(settings.redacted_redis_url):
        if settings.redis_cluster:
            return connect_cluster(url, options, settings.redacted_redis_url)
        reconnects = Reconnects()
        with url_errors(settings.redacted_redis_url):
            client = redis.Redis.from_url(
                url, health_check_interval=30, redis_connect_func=reconnects.on_connect, **options
            )
        setattr(client, RECONNECTS_ATTR, reconnects)
        return client


def demo_client(settings: Settings, *, seed: int = 7) -> Any:
    """An in-process fakeredis holding ``settings.demo_records`` generated records."""
    import fakeredis  # only the demo needs it

    client = fakeredis.FakeRedis(server=fakeredis.FakeServer(), decode_responses=False)
    seed_records(client, settings, records=settings.demo_records, seed=seed)
    return client

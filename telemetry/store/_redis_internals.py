"""The one place the store reaches past redis-py's public cluster API.

``RedisCluster`` re-reads its slot map only from inside its own command
path (after a MOVED, or a connection error, in ``execute_command``). The
cluster store sends its per-node pipelines itself (see ``cluster.py`` for
why not ``RedisCluster.pipeline()``), so it must ask for that re-read
directly: ``nodes_manager.initialize``. Everything else goes through public
calls (``get_node_from_key``, ``get_primaries``, ``get_node``,
``get_redis_connection``). tests/store/test_cluster.py pins what is relied on here:
a re-read makes ``get_node_from_key`` name a slot's new owner.
"""

from __future__ import annotations

from redis.cluster import RedisCluster


def refresh_slot_map(client: RedisCluster, *, last_failed_node: str | None = None) -> None:
    """Re-read the slot map (CLUSTER SLOTS from a reachable node); ``last_failed_node``
    (``host:port``) is asked last, as redis-py does after a connection error."""
    if last_failed_node is None:
        client.nodes_manager.initialize()
    else:
        client.nodes_manager.initialize(last_failed_node_name=last_failed_node)

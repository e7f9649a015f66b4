"""The Redis side: connecting, and the few read primitives the reader needs.

- ``base``: what every store is (``Store``, ``ScanStep``, ``WrongType``), the
  errors users see (``store_errors``, ``describe_failure``, ``url_errors``), and
  the one batch-read primitive both stores send through (``Wire``: pre-packed
  commands on a pooled redis-py connection, replies read later);
- ``single``: one Redis node (``SingleStore``);
- ``cluster``: a Redis Cluster (``ClusterStore``); depends on ``base`` only;
- ``connecting``: ``Settings`` to a client (single, cluster or the demo's fakeredis).

``Store.for_client`` picks the kind of store that serves a client.
"""

from .base import (
    LEAST_PRIVILEGE_RULES,
    ChunkReader,
    ScanStep,
    Store,
    WrongType,
    describe_failure,
    store_errors,
    url_errors,
)
from .cluster import (
    CLUSTER_EXTRA_RULES,
    CLUSTER_PRIVILEGE_RULES,
    ClusterStore,
    cluster_errors,
    cluster_failure,
    connect_cluster,
)
from .connecting import connect, demo_client
from .single import FETCH_SCRIPT, RECONNECTS_ATTR, Reconnects, SingleStore

__all__ = [
    "CLUSTER_EXTRA_RULES",
    "CLUSTER_PRIVILEGE_RULES",
    "FETCH_SCRIPT",
    "LEAST_PRIVILEGE_RULES",
    "RECONNECTS_ATTR",
    "ChunkReader",
    "ClusterStore",
    "Reconnects",
    "ScanStep",
    "SingleStore",
    "Store",
    "WrongType",
    "cluster_errors",
    "cluster_failure",
    "connect",
    "connect_cluster",
    "demo_client",
    "describe_failure",
    "store_errors",
    "url_errors",
]

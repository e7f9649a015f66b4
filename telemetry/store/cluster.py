"""Redis Cluster: the ``Store`` primitives over every primary, a node's failure kept local.

A cluster splits the keyspace into 16384 hash slots spread over primaries. A
multi-key command must stay inside one slot and no node answers for the whole
keyspace, so the single-node tricks (one MGET per chunk, one SCAN cursor)
become:

- ``fetch``/``inspect``: keys grouped by the primary serving their slot. Every
  primary gets **one pipelined request per chunk** (an MGET per slot group plus
  a PTTL per key), all sent before any reply is read, so the primaries work in
  parallel and a chunk costs one round trip. Answers come back in input
  order. A primary that fails costs only its own keys: ``fetch`` raises
  ``PartialFetchError`` carrying every other key's value and PTTL (the reader
  makes the failed keys ``error`` rows and keeps the rest); only when every
  key failed is it a plain ``StoreUnavailableError``, as on one node.
- ``scan_fetch``: every primary runs the single-node loop (the next SCAN rides
  with the reads of the previous reply) in lockstep: each round's requests go
  to all primaries before any reply is read, and the next round is already in
  flight while the caller decodes this one. ``max_keys`` is one budget shared
  by all; ``complete`` means every primary's cursor came back to 0 within it.
  A primary that fails ends the scan with an ``error`` on the last step, after
  everything the other primaries read.
- MOVED (resharded slot) re-reads the slot map and retries; ASK (slot being
  migrated) retries on the target with ASKING; TRYAGAIN retries key by key;
  an unreachable primary re-reads the slot map once (a failover moves its
  slots). A primary that failed is skipped for ``NODE_RETRY_SECONDS`` (its
  keys fail at once with the same message), so a dead host costs one connect
  timeout per lookup, not one per chunk; ``ping`` always probes every primary.

No threads: one connection per primary per round, all in flight at once.

Commands sent: MGET, PTTL, TYPE, SCAN, PING, ASKING, and, by redis-py while
connecting, CLUSTER SLOTS and COMMAND (see ``CLUSTER_PRIVILEGE_RULES``).

Why not ``RedisCluster.pipeline()``: when one primary cannot be reached it
re-reads the slot map and raises for the whole pipeline, so a dead host would
fail every key of a chunk, not just its own. The per-node pipelines here go
through public calls only (``get_redis_connection`` and its pool, the slot
map through ``get_node_from_key``); the one exception, re-reading the slot
map on demand, is ``_redis_internals.refresh_slot_map``.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MasterDownError,
    MovedError,
    NoPermissionError,
    RedisClusterException,
    SlotNotCoveredError,
    TryAgainError,
)

from ..errors import PartialFetchError, StoreUnavailableError
from ._redis_internals import refresh_slot_map
from .base import (
    LEAST_PRIVILEGE_RULES,
    ScanStep,
    Store,
    Wire,
    describe_failure,
    pack_commands,
    url_errors,
)

if TYPE_CHECKING:
    from ..config import Settings

# What a read-only ACL user needs on every node of a cluster: the single-node
# rules plus CLUSTER SLOTS and COMMAND (redis-py sends both while connecting:
# the slot map, and the key positions of commands) and ASKING (reads during a
# slot migration).
CLUSTER_EXTRA_RULES = "+cluster|slots +command +asking"
CLUSTER_PRIVILEGE_RULES = LEAST_PRIVILEGE_RULES.replace(" ~", f" {CLUSTER_EXTRA_RULES} ~", 1)

NODE_RETRY_SECONDS = 5.0
MAX_ROUNDS = 4  # first try + redirects (MOVED, ASK, TRYAGAIN, failover)

Command = tuple[Any, ...]


def cluster_failure(exc: BaseException, url: str) -> StoreUnavailableError:
    """``describe_failure`` plus what only a cluster says (not a cluster, missing rights)."""
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    if isinstance(exc, NoPermissionError) or text.startswith("NOPERM"):
        return StoreUnavailableError(
            f"Redis denied a command: {text}.",
            url=url,
            hint="a cluster user needs "
            + CLUSTER_PRIVILEGE_RULES.format(namespace="<namespace>")
            + " on every node",
        )
    if isinstance(exc, ClusterDownError) and not isinstance(exc, MasterDownError):
        return StoreUnavailableError(
            f"The Redis Cluster is down ({text}).",
            url=url,
            hint="a primary with no replica to take over has failed, so the cluster refuses "
            "reads; bring it back (or set cluster-allow-reads-when-down yes on the nodes to "
            "read the other slots meanwhile)",
        )
    if isinstance(exc, RedisClusterException):
        if "db" in text.lower() and "cluster mode" in text:
            return StoreUnavailableError(
                "REDIS_URL selects a database, but a Redis Cluster only has database 0.",
                url=url,
                hint="drop the /N (or ?db=N) from REDIS_URL",
            )
        if "not enabled" in text:  # redis-py's words for "CLUSTER SLOTS failed"
            return StoreUnavailableError(
                "Redis does not answer as a cluster node (CLUSTER SLOTS failed).",
                url=url,
                hint="unset REDIS_CLUSTER for a single Redis; on a cluster the user needs "
                + CLUSTER_EXTRA_RULES,
            )
        return StoreUnavailableError(
            f"Cannot reach the Redis Cluster ({text}).",
            url=url,
            hint="is REDIS_URL the address of a running cluster node? Retry once it is back",
        )
    return describe_failure(exc, url)


@contextlib.contextmanager
def cluster_errors(url: str) -> Iterator[None]:
    try:
        yield
    except StoreUnavailableError:
        raise
    except (redis.RedisError, RedisClusterException, OSError) as exc:
        raise cluster_failure(exc, url) from None


def connect_cluster(url: str, options: dict[str, Any], redacted_url: str) -> RedisCluster:
    """``RedisCluster.from_url``. Unlike a single Redis it connects at once (to read the
    slot map), so an unreachable cluster raises ``StoreUnavailableError`` here."""
    with cluster_errors(redacted_url), url_errors(redacted_url):
        return RedisCluster.from_url(url, **options)


def _encode(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode()


def _text(value: Any) -> str:
    """As the reader turns a key into text (so prefetched answers match its keys)."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class _Request:
    """Commands to one node, pipelined on one ``Wire`` (a pooled connection): sent now,
    read later."""

    __slots__ = ("commands", "error", "link", "node")

    def __init__(self, store: ClusterStore, node: ClusterNode, commands: list[Command]) -> None:
        self.node = node
        self.commands = commands
        self.link = Wire(store.client.get_redis_connection(node).connection_pool)
        self.error: BaseException | None = None

    def send(self) -> None:
        try:
            self.link.send(pack_commands(self.commands), len(self.commands))
        except Exception as exc:
            self.error = exc  # the link dropped its connection

    def read(self) -> list[Any]:
        """Every reply in order (an error reply is its ``ResponseError``); raises when the
        connection fails. Once, a connection that failed is replaced and the request resent
        (reads are idempotent): a server may have closed an idle connection."""
        for attempt in (1, 2):
            if self.error is None:
                try:
                    replies = self.link.read(len(self.commands), raise_on_error=False)
                    self.link.close()
                    return replies
                except Exception as exc:
                    self.error = exc  # the link dropped its connection
            if attempt == 2 or not isinstance(self.error, redis.ConnectionError):
                break
            self.error = None
            self.send()
        raise self.error or redis.ConnectionError("no reply")

    def close(self, *, dirty: bool) -> None:
        if dirty:
            self.link.drop()
        else:
            self.link.close()


class _Outcome:
    """Per-key answers of a read: one result per command, or why the key failed."""

    __slots__ = ("asks", "errors", "failed", "moved", "results", "retry", "tryagain")

    def __init__(self, n: int, width: int) -> None:
        self.results: list[list[Any]] = [[None] * width for _ in range(n)]
        self.failed: dict[int, str] = {}
        self.errors: list[StoreUnavailableError] = []  # node-level failures
        self.retry: set[int] = set()  # redirected: try again next round
        self.asks: dict[int, tuple[str, int]] = {}  # index -> node to ask (with ASKING)
        self.moved = False
        self.tryagain = False


class _ScanNode:
    """One primary's SCAN state in ``scan_fetch``."""

    __slots__ = ("answered", "complete", "cursor", "error", "groups", "node", "pending", "request")

    def __init__(self, node: ClusterNode) -> None:
        self.node = node
        self.cursor = 0
        self.pending: list[bytes] = []  # keys of the last SCAN reply, read in the next round
        self.groups: list[list[int]] = []  # MGET slot groups of ``pending``, as sent
        self.request: _Request | None = None
        self.complete = False  # cursor back to 0 within the budget
        self.answered = False
        self.error: StoreUnavailableError | None = None

    @property
    def scanning(self) -> bool:
        return not self.complete and self.error is None and self.cursor >= 0


class ClusterStore(Store, serves=RedisCluster):
    """``Store`` over a ``redis.cluster.RedisCluster``: per-primary pipelines, all in flight."""

    def __init__(self, client: RedisCluster, settings: Settings) -> None:
        super().__init__(client, settings)
        self.node_retry_seconds = NODE_RETRY_SECONDS
        self._down: dict[str, tuple[float, str]] = {}  # node name -> (until, message)
        self._lock = threading.Lock()
        self._extra_nodes: dict[str, ClusterNode] = {}
        self._local = threading.local()  # per thread: scan_fetch's answers for inspect

    # -- description and health ----------------------------------------------

    @property
    def primaries(self) -> list[ClusterNode]:
        return list(self.client.get_primaries())

    def describe(self) -> str:
        """E.g. ``cluster of 3 primaries at redis://…`` (what the sidebar shows; no secrets)."""
        count = len(self.primaries)
        text = f"cluster of {count} primar{'y' if count == 1 else 'ies'} at {self.url}"
        down = self.unreachable_nodes()
        if down:
            text += f" ({len(down)} unreachable: {', '.join(down)})"
        return text

    def unreachable_nodes(self) -> list[str]:
        """Primaries that failed within the last ``node_retry_seconds``."""
        now = time.monotonic()
        with self._lock:
            return sorted(name for name, (until, _) in self._down.items() if until > now)

    def forget_failures(self) -> None:
        """Try every primary again on the next read (``ping`` does this per node)."""
        with self._lock:
            self._down.clear()

    def ping(self) -> float:
        """PING every primary (all at once); the round trip, in seconds.

        Raises only when no primary answers. A failing primary is remembered
        (``describe`` names it, its keys fail fast); one that answers is cleared.
        """
        nodes = self.primaries
        if not nodes:
            raise StoreUnavailableError("The Redis Cluster has no primaries.", url=self.url)
        start = time.perf_counter()
        requests = self._exchange([(node, [("PING",)]) for node in nodes])
        elapsed = time.perf_counter() - start
        errors: list[StoreUnavailableError] = []
        for request, replies in requests:
            failure = request.error or (replies[0] if isinstance(replies[0], Exception) else None)
            if failure is not None:
                error = self._node_failure(failure, request.node)
                self._mark_down(request.node, str(error))
                errors.append(error)
            else:
                self._mark_up(request.node)
        if len(errors) == len(nodes):
            raise errors[0]
        return elapsed

    # -- reads ------------------------------------------------------------------

    def fetch(self, keys: list[str]) -> tuple[list[Any], list[int]]:
        """Values (None when missing, non-string or failed) and PTTLs (-2 likewise), in order.

        Raises ``PartialFetchError`` when some primaries failed (it carries the
        rest), ``StoreUnavailableError`` when every key failed.
        """
        if not keys:
            return [], []
        outcome = self._read(keys, ("MGET", "PTTL"))
        values = [row[0] for row in outcome.results]
        pttls = [row[1] for row in outcome.results]
        for index in outcome.failed:
            values[index], pttls[index] = None, -2
        if outcome.failed:
            first = self._first_error(outcome)
            if len(outcome.failed) == len(keys):
                raise first
            failed = {keys[i]: message for i, message in outcome.failed.items()}
            partial = PartialFetchError(
                f"{len(failed):,} of {len(keys):,} keys not read: {first}",
                values=values,
                pttls=pttls,
                failed=failed,
            )
            partial.url = first.url
            raise partial
        return values, pttls

    def inspect(self, keys: list[str]) -> list[tuple[str, Any, int]]:
        """``(type, value or None, pttl)``: TYPE, PTTL and MGET in one round trip per
        primary (MGET answers nil, not an error, for a non-string key)."""
        if not keys:
            return []
        prefetched = getattr(self._local, "prefetched", None)
        if prefetched and all(key in prefetched for key in keys):
            return [prefetched[key] for key in keys]  # read by scan_fetch for this batch
        outcome = self._read(keys, ("TYPE", "PTTL", "MGET"))
        if outcome.failed:
            raise self._first_error(outcome)
        return [(_text(kind), value, pttl) for kind, pttl, value in outcome.results]

    def _prefetch_odd(
        self, batches: list[tuple[list[bytes], list[Any], list[int]]]
    ) -> tuple[dict[str, tuple[str, Any, int]], StoreUnavailableError | None]:
        """What ``inspect`` will be asked about these batches (keys MGET read as nil but
        that exist: non-string keys), read now, while scan_fetch can still attribute a
        failure to the scan instead of the caller's decoding."""
        odd = [
            _text(key)
            for keys, values, pttls in batches
            for key, value, pttl in zip(keys, values, pttls, strict=True)
            if value is None and pttl != -2
        ]
        if not odd:
            return {}, None
        outcome = self._read(odd, ("TYPE", "PTTL", "MGET"))
        answers: dict[str, tuple[str, Any, int]] = {}
        for index, key in enumerate(odd):
            if index in outcome.failed:
                answers[key] = ("none", None, -2)  # not counted; the scan ends incomplete
            else:
                kind, pttl, value = outcome.results[index]
                answers[key] = (_text(kind), value, pttl)
        return answers, self._first_error(outcome) if outcome.failed else None

    @staticmethod
    def _first_error(outcome: _Outcome) -> StoreUnavailableError:
        if outcome.errors:
            return outcome.errors[0]
        return StoreUnavailableError(next(iter(outcome.failed.values())))

    def _read(self, keys: Sequence[str | bytes], commands: tuple[str, ...]) -> _Outcome:
        """``commands`` for every key on the primary of its slot, redirects followed.

        ``"MGET"`` is sent once per slot group (one key per MGET after a
        TRYAGAIN, or when ASKING); any other command once per key.
        """
        outcome = _Outcome(len(keys), len(commands))
        slots = [key_slot(_encode(key)) for key in keys]
        pending = list(range(len(keys)))
        single = False
        for round_no in range(MAX_ROUNDS):
            groups = self._route(pending, keys, slots, outcome)
            outcome.retry = set()
            outcome.moved = outcome.tryagain = False
            plans = [
                self._plan(keys, slots, indexes, commands, asking, single)
                for (node, asking, indexes) in groups
            ]
            exchanged = self._exchange(
                [(node, cmds) for (node, _, _), (cmds, _) in zip(groups, plans, strict=True)]
            )
            unreachable: list[ClusterNode] = []
            unreachable_keys: list[int] = []
            for (node, asking, indexes), (_, layout), (request, replies) in zip(
                groups, plans, exchanged, strict=True
            ):
                if request.error is not None:
                    error = self._node_failure(request.error, node)
                    outcome.errors.append(error)
                    for index in indexes:
                        outcome.failed[index] = str(error)
                    self._mark_down(node, str(error))
                    if isinstance(request.error, (redis.ConnectionError, redis.TimeoutError)):
                        unreachable.append(node)
                        unreachable_keys.extend(indexes)
                    continue
                self._mark_up(node)
                if asking:  # a failed ASKING (e.g. NOPERM) is its command's answer
                    replies = [
                        asked if isinstance(asked, Exception) else reply
                        for asked, reply in zip(replies[0::2], replies[1::2], strict=True)
                    ]
                self._apply(layout, replies, outcome)
            pending = sorted(outcome.retry - outcome.failed.keys())
            if round_no == 0 and unreachable:
                moved = self._rerouted(keys, outcome, unreachable, unreachable_keys)
                pending = sorted(set(pending) | moved)
            if not pending:
                break
            if outcome.moved:
                self._refresh_slots()
            if outcome.tryagain:
                single = True
                time.sleep(0.01 * (round_no + 1))  # the migration is moving these keys
        for index in pending:
            outcome.failed.setdefault(
                index,
                str(
                    StoreUnavailableError(
                        "The key's slot kept moving (cluster resharding).",
                        url=self.url,
                        hint="retry in a moment",
                    )
                ),
            )
        return outcome

    def _route(
        self,
        pending: list[int],
        keys: Sequence[str | bytes],
        slots: list[int],
        outcome: _Outcome,
    ) -> list[tuple[ClusterNode, bool, list[int]]]:
        """``(node, asking, indexes)`` groups; keys of a node in its retry pause fail now."""
        asks, outcome.asks = outcome.asks, {}
        groups: dict[tuple[str, bool], tuple[ClusterNode, bool, list[int]]] = {}
        down: dict[str, str | None] = {}
        for index in pending:
            asking = index in asks
            if asking:
                node = self._node_at(*asks[index])
            else:
                owner = self._owner(keys[index])
                if owner is None:
                    outcome.failed[index] = str(
                        StoreUnavailableError(
                            f"No cluster node serves slot {slots[index]}.",
                            url=self.url,
                            hint="the cluster is missing slots; check CLUSTER INFO",
                        )
                    )
                    continue
                node = owner
            name = node.name
            if name not in down:
                down[name] = self._down_message(node)
            if down[name] is not None:
                outcome.failed[index] = down[name]  # type: ignore[assignment]
                continue
            group = groups.get((name, asking))
            if group is None:
                group = groups[(name, asking)] = (node, asking, [])
            group[2].append(index)
        return list(groups.values())

    @staticmethod
    def _plan(
        keys: Sequence[str | bytes],
        slots: list[int],
        indexes: list[int],
        commands: tuple[str, ...],
        asking: bool,
        single: bool,
    ) -> tuple[list[Command], list[tuple[int, bool, list[Any]]]]:
        """The commands for one node, and the layout of their replies: per command
        ``(column, is_mget, items)``, one reply per item (a slot group of indexes for
        MGET, an index otherwise)."""
        cmds: list[Command] = []
        layout: list[tuple[int, bool, list[Any]]] = []
        for column, command in enumerate(commands):
            if command == "MGET":
                if single or asking:
                    groups = [[i] for i in indexes]
                else:
                    by_slot: dict[int, list[int]] = {}
                    for i in indexes:
                        by_slot.setdefault(slots[i], []).append(i)
                    groups = list(by_slot.values())
                mgets = [
                    ("MGET", keys[g[0]]) if len(g) == 1 else ("MGET", *[keys[i] for i in g])
                    for g in groups
                ]
                layout.append((column, True, groups))
            else:
                mgets = [(command, keys[i]) for i in indexes]
                layout.append((column, False, indexes))
            if asking:
                for cmd in mgets:
                    cmds.append(("ASKING",))
                    cmds.append(cmd)
            else:
                cmds.extend(mgets)
        return cmds, layout

    def _apply(
        self, layout: list[tuple[int, bool, list[Any]]], replies: list[Any], outcome: _Outcome
    ) -> None:
        results = outcome.results
        pos = 0
        for column, mget, items in layout:
            part = replies[pos : pos + len(items)]
            pos += len(items)
            if mget:
                for group, reply in zip(items, part, strict=True):
                    if isinstance(reply, Exception):
                        for i in group:
                            self._key_error(i, reply, outcome)
                    else:
                        for i, value in zip(group, reply, strict=True):
                            results[i][column] = value
            else:
                for i, reply in zip(items, part, strict=True):
                    if isinstance(reply, Exception):
                        self._key_error(i, reply, outcome)
                    else:
                        results[i][column] = reply
        if pos != len(replies):
            raise redis.ConnectionError(f"expected {pos} replies, got {len(replies)}")

    def _key_error(self, index: int, exc: Exception, outcome: _Outcome) -> None:
        if isinstance(exc, MovedError):  # before AskError: MovedError is one
            outcome.moved = True
            outcome.retry.add(index)
        elif isinstance(exc, AskError):
            outcome.asks[index] = exc.node_addr
            outcome.retry.add(index)
        elif isinstance(exc, TryAgainError):
            outcome.tryagain = True
            outcome.retry.add(index)
        else:
            outcome.failed.setdefault(index, str(cluster_failure(exc, self.url)))

    def _owner(self, key: str | bytes) -> ClusterNode | None:
        """The primary serving the key's slot in the client's slot map; None if none does."""
        try:
            return self.client.get_node_from_key(key)
        except SlotNotCoveredError:
            return None

    def _rerouted(
        self,
        keys: Sequence[str | bytes],
        outcome: _Outcome,
        nodes: list[ClusterNode],
        indexes: list[int],
    ) -> set[int]:
        """After primaries were unreachable: re-read the slot map; their keys whose slot
        now has another owner (a replica promoted) are retried."""
        names = {node.name for node in nodes}
        try:
            self._refresh_slots(last_failed=nodes[0].name)
        except StoreUnavailableError:
            return set()
        retried: set[int] = set()
        for index in indexes:
            owner = self._owner(keys[index])
            if owner is not None and owner.name not in names:
                outcome.failed.pop(index, None)
                retried.add(index)
        return retried

    def _node_at(self, host: str, port: int) -> ClusterNode:
        node = self.client.get_node(host=host, port=port)
        if node is None:  # not in the slot map yet (a brand-new node): one of our own
            name = f"{host}:{port}"
            with self._lock:
                node = self._extra_nodes.setdefault(name, ClusterNode(host, port, "primary"))
        return node

    # -- scan ---------------------------------------------------------------------

    def scan_fetch(self, pattern: str, count: int, max_keys: int) -> Iterator[ScanStep]:
        """SCAN every primary, each reply's keys read with MGET + PTTL.

        Same protocol as ``Store.scan_fetch``: steps ``(keys, values, pttls,
        last, complete, error)``, the last one empty. ``complete`` means every
        primary's cursor came back to 0 before ``max_keys`` (one budget for
        all). Raises ``StoreUnavailableError`` when no primary answers at all; a
        primary failing otherwise is the last step's ``error``, after the
        batches the other primaries read.
        """
        self._refresh_slots()  # a failover since the last read changes the primaries
        states = [_ScanNode(node) for node in self.primaries]
        room = max_keys
        capped = False
        late_errors: list[StoreUnavailableError] = []  # failures reading odd keys
        for state in states:
            message = self._down_message(state.node)
            if message is not None:
                state.error = StoreUnavailableError(message)
        try:
            self._scan_send(states, pattern, count)
            while True:
                batches: list[tuple[list[bytes], list[Any], list[int]]] = []
                for state in states:
                    if state.request is None:
                        continue
                    request, state.request = state.request, None
                    try:
                        replies = request.read()
                    except Exception as exc:
                        state.error = self._node_failure(exc, state.node)
                        self._mark_down(state.node, str(state.error))
                        continue
                    try:
                        new_keys: list[bytes] = []
                        if state.scanning:
                            reply, replies = replies[0], replies[1:]
                            if isinstance(reply, Exception):
                                raise reply
                            cursor, new_keys = int(reply[0]), list(reply[1])
                            more = cursor != 0
                            if len(new_keys) > room or (len(new_keys) == room and more):
                                new_keys, capped = new_keys[:room], True
                                state.cursor = -1  # stop: capped
                            elif not more:
                                state.complete = True
                            else:
                                state.cursor = cursor
                            room -= len(new_keys)
                        state.answered = True
                        self._mark_up(state.node)
                        if state.pending:
                            values, pttls = self._scan_replies(state, replies)
                            batches.append((state.pending, values, pttls))
                        state.pending = new_keys
                    except Exception as exc:
                        state.error = self._node_failure(exc, state.node)
                        continue
                if capped:  # the budget is spent: nobody scans further
                    for state in states:
                        if state.scanning:
                            state.cursor = -1
                prefetched, failure = self._prefetch_odd(batches)  # (rare; servers idle now)
                if failure is not None:
                    late_errors.append(failure)
                self._scan_send(states, pattern, count)  # next round in flight ...
                self._local.prefetched = prefetched
                for keys, values, pttls in batches:  # ... while the caller decodes this one
                    yield keys, values, pttls, False, False, ""
                self._local.prefetched = None
                if all(state.request is None for state in states):
                    break
            errors = [state.error for state in states if state.error is not None]
            errors += late_errors
            if errors:
                if not any(state.answered for state in states):
                    raise errors[0]  # nothing read anywhere: Redis is down
                yield [], [], [], True, False, "; ".join(str(error) for error in errors)
                return
            yield [], [], [], True, all(state.complete for state in states), ""
        finally:
            self._local.prefetched = None
            for state in states:
                if state.request is not None:
                    state.request.close(dirty=True)

    def _scan_send(self, states: list[_ScanNode], pattern: str, count: int) -> None:
        """Each live primary's next request: SCAN (unless done) + MGETs and PTTLs of the
        keys of its last SCAN reply."""
        for state in states:
            if state.error is not None or not (state.scanning or state.pending):
                continue
            cmds: list[Command] = []
            if state.scanning:
                cmds.append(("SCAN", state.cursor, "MATCH", pattern, "COUNT", count))
            keys = state.pending
            by_slot: dict[int, list[int]] = {}
            for i, key in enumerate(keys):
                by_slot.setdefault(key_slot(key), []).append(i)
            state.groups = list(by_slot.values())
            cmds.extend(
                ("MGET", keys[g[0]]) if len(g) == 1 else ("MGET", *[keys[i] for i in g])
                for g in state.groups
            )
            cmds.extend(("PTTL", key) for key in keys)
            request = _Request(self, state.node, cmds)
            request.send()
            state.request = request

    def _scan_replies(self, state: _ScanNode, replies: list[Any]) -> tuple[list[Any], list[int]]:
        """Values and PTTLs of a scanned batch (the replies after SCAN's); keys whose slot
        moved since the SCAN are read again through the slot map."""
        keys = state.pending
        values: list[Any] = [None] * len(keys)
        groups = state.groups
        if len(replies) != len(groups) + len(keys):
            raise redis.ConnectionError(f"expected {len(groups) + len(keys)} replies")
        pttls: list[Any] = replies[len(groups) :]
        again: set[int] = set()
        for group, reply in zip(groups, replies, strict=False):
            if isinstance(reply, Exception):
                if isinstance(reply, (AskError, TryAgainError)):  # MOVED is an AskError
                    again.update(group)
                    continue
                raise reply
            for i, value in zip(group, reply, strict=True):
                values[i] = value
        for i, pttl in enumerate(pttls):
            if isinstance(pttl, Exception):
                if isinstance(pttl, (AskError, TryAgainError)):
                    again.add(i)
                    continue
                raise pttl
        if again:
            order = sorted(again)
            outcome = self._read([keys[i] for i in order], ("MGET", "PTTL"))
            if outcome.failed:
                raise self._first_error(outcome)
            for i, (value, pttl) in zip(order, outcome.results, strict=True):
                values[i], pttls[i] = value, pttl
        return values, pttls

    # -- plumbing -------------------------------------------------------------------

    def _exchange(
        self, jobs: list[tuple[ClusterNode, list[Command]]]
    ) -> list[tuple[_Request, list[Any]]]:
        """Send every node its commands, then read every reply: one round trip for all.

        A node whose connection failed has ``request.error`` set and no replies.
        """
        requests = [_Request(self, node, cmds) for node, cmds in jobs]
        try:
            for request in requests:
                request.send()
            out: list[tuple[_Request, list[Any]]] = []
            for request in requests:
                try:
                    out.append((request, request.read()))
                except Exception:
                    out.append((request, []))
            return out
        finally:
            for request in requests:
                request.close(dirty=True)  # no-op unless something went wrong mid-read

    def _refresh_slots(self, last_failed: str | None = None) -> None:
        """Re-read the slot map (CLUSTER SLOTS from any reachable node)."""
        with cluster_errors(self.url):
            refresh_slot_map(self.client, last_failed_node=last_failed)

    def _node_failure(self, exc: BaseException, node: ClusterNode) -> StoreUnavailableError:
        if isinstance(exc, StoreUnavailableError):
            return exc
        return cluster_failure(exc, f"{self.url}, node {node.name}")

    def _down_message(self, node: ClusterNode) -> str | None:
        with self._lock:
            entry = self._down.get(node.name)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def _mark_down(self, node: ClusterNode, message: str) -> None:
        if self.node_retry_seconds <= 0:
            return
        with self._lock:
            self._down[node.name] = (time.monotonic() + self.node_retry_seconds, message)

    def _mark_up(self, node: ClusterNode) -> None:
        if self._down:
            with self._lock:
                self._down.pop(node.name, None)

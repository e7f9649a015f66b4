"""A real, throwaway Redis Cluster for tests: three primaries (replicas optional).

Each node is a ``RedisServer`` (see ``redis_server.py``) started with
``--cluster-enabled yes`` on its own free loopback port, with its cluster bus on
a second free port (``--cluster-port``, so no port+10000 arithmetic can clash),
nothing persisted except the node's ``nodes.conf`` in its own temporary
directory. ``redis-cli --cluster create ... --cluster-yes`` assigns the 16384
slots; the constructor returns once every node reports ``cluster_state:ok``.

    with LocalCluster() as cluster:
        client = cluster.client()
        client.set("telemetry:payment:pym_1", '{"runId": "run_1"}')
        cluster.kill(cluster.node_for_key("telemetry:payment:pym_1"))
        ...
        cluster.start(0)  # back on the same port, with its slots, empty

Without replicas (the default) a killed node keeps its slots in the cluster's
view: there is no replica to fail over to. ``cluster-node-timeout`` is long
(60 s) so the other primaries keep serving their own slots while a test has a
node down, instead of the whole cluster turning ``CLUSTERDOWN`` after the
default 15 s. With ``replicas=1`` and a short ``node_timeout_ms`` a killed
primary's replica takes over (a failover), as in production.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis
from redis.cluster import RedisCluster

from redis_server import LOOPBACK, RedisServer, find_redis_server

CLUSTER_TIMEOUT_SECONDS = 30.0
NODE_TIMEOUT_MS = 60_000
MAX_CLIENT_PORT = 55_535  # Redis refuses a cluster node port above this


def find_redis_cli(redis_server_path: str) -> str:
    """``redis-cli`` next to ``redis-server``, else on PATH; ``RuntimeError`` if missing."""
    sibling = os.path.join(os.path.dirname(redis_server_path), "redis-cli")
    if os.access(sibling, os.X_OK):
        return sibling
    path = shutil.which(os.environ.get("REDIS_CLI_BIN") or "redis-cli")
    if path is None:
        raise RuntimeError("redis-cli is not installed (it comes with redis-server / redis-tools)")
    return path


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports, free right now and low enough for a cluster node."""
    ports: list[int] = []
    socks: list[socket.socket] = []
    try:
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            port = int(sock.getsockname()[1])
            if port > MAX_CLIENT_PORT or port == 6379 or port in ports:
                sock.close()
                # The ephemeral range can sit above 55535: ask for a specific low port.
                port = _bindable_low_port(set(ports))
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.bind((LOOPBACK, port))
            socks.append(sock)  # held until all are picked, so none is picked twice
            ports.append(port)
    finally:
        for sock in socks:
            sock.close()
    return ports


def _bindable_low_port(taken: set[int]) -> int:
    import random

    for _ in range(200):
        port = random.randint(20_000, MAX_CLIENT_PORT)
        if port in taken or port == 6379:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port below 55536 for a cluster node")


def _cluster_info(admin: redis.Redis) -> dict[str, str]:
    text = admin.execute_command("CLUSTER", "INFO")
    if isinstance(text, bytes):
        text = text.decode()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


class LocalCluster:
    """A 3-primary Redis Cluster of child processes on ``127.0.0.1``.

    ``nodes`` are ``RedisServer`` objects (kill/start/pause them individually,
    or use ``kill(node)``/``start(node)`` here, which also wait for the cluster
    to settle). ``node`` arguments are a ``RedisServer`` or its index.
    """

    def __init__(
        self,
        primaries: int = 3,
        *,
        replicas: int = 0,
        node_timeout_ms: int = NODE_TIMEOUT_MS,
        executable: str | None = None,
        extra_args: list[str] | None = None,
        tls: bool = False,
    ) -> None:
        if primaries < 3:
            raise ValueError("redis-cli --cluster create needs at least 3 primaries")
        self.executable = find_redis_server(executable)
        self.cli = find_redis_cli(self.executable)
        self.nodes: list[RedisServer] = []
        self.tls_ports: list[int] = []
        self._admins: dict[int, redis.Redis] = {}
        self._tls_dir: tempfile.TemporaryDirectory[str] | None = None
        self.ca_file: str | None = None
        try:
            tls_args: list[str] = []
            if tls:
                tls_args = self._make_certificate()
            self.replicas = replicas
            count = primaries * (1 + replicas)
            per_node = 3 if tls else 2
            ports = free_ports(count * per_node)
            for n in range(count):
                port, bus_port = ports[n * per_node], ports[n * per_node + 1]
                node_tls: list[str] = []
                if tls:
                    self.tls_ports.append(ports[n * per_node + 2])
                    node_tls = ["--tls-port", str(self.tls_ports[-1]), *tls_args]
                node = RedisServer(
                    port,
                    executable=self.executable,
                    extra_args=[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",  # in the node's own --dir
                        "--cluster-port",
                        str(bus_port),
                        "--cluster-node-timeout",
                        str(node_timeout_ms),
                        *node_tls,
                        *(extra_args or []),
                    ],
                    start=False,
                )
                self.nodes.append(node)
                node.start()
            self._create()
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    # -- lifecycle ---------------------------------------------------------

    def _make_certificate(self) -> list[str]:
        """A self-signed certificate for 127.0.0.1 (its own CA); the nodes' TLS arguments.

        Clients connect over TLS on ``tls_ports`` (``tls_url``); the cluster bus uses
        TLS too; the plaintext ports stay for the harness's own administration.
        """
        openssl = shutil.which("openssl")
        if openssl is None:
            raise RuntimeError("openssl is needed to make a certificate for a TLS cluster")
        self._tls_dir = tempfile.TemporaryDirectory(prefix="run-lookup-tls-")
        cert = os.path.join(self._tls_dir.name, "cert.pem")
        key = os.path.join(self._tls_dir.name, "key.pem")
        subprocess.run(  # fixed argv, no shell
            [
                openssl,
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-keyout",
                key,
                "-out",
                cert,
                "-subj",
                f"/CN={LOOPBACK}",
                "-addext",
                f"subjectAltName=IP:{LOOPBACK}",
            ],
            capture_output=True,
            check=True,
            timeout=60,
        )
        self.ca_file = cert
        return [
            "--tls-cluster",
            "yes",
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-ca-cert-file",
            cert,
            "--tls-auth-clients",
            "no",
        ]

    def _create(self) -> None:
        args = [
            self.cli,
            "--cluster",
            "create",
            *(f"{LOOPBACK}:{node.port}" for node in self.nodes),
            "--cluster-replicas",
            str(self.replicas),
            "--cluster-yes",
        ]
        proc = subprocess.run(  # fixed argv, no shell
            args,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=CLUSTER_TIMEOUT_SECONDS,
            check=False,
        )
        if proc.returncode != 0 or "[OK]" not in proc.stdout:
            raise RuntimeError(
                f"redis-cli --cluster create failed (status {proc.returncode}):\n"
                f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
            )

    def _index(self, node: RedisServer | int) -> int:
        return node if isinstance(node, int) else self.nodes.index(node)

    def node(self, node: RedisServer | int) -> RedisServer:
        return self.nodes[self._index(node)]

    def kill(self, node: RedisServer | int) -> RedisServer:
        """SIGKILL one node (its keys are lost; its slots stay assigned to it)."""
        index = self._index(node)
        self._close_admin(index)
        self.nodes[index].kill()
        return self.nodes[index]

    def start(self, node: RedisServer | int | None = None) -> None:
        """Restart a killed node (or every stopped one) on its port and wait for ``ok``.

        It comes back empty, with its ``nodes.conf``: same node ID, same slots.
        """
        targets = self.nodes if node is None else [self.node(node)]
        for target in targets:
            if not target.running:
                self._close_admin(self.nodes.index(target))
                target.start()
        self.wait_ok()

    def wait_ok(self, timeout: float = CLUSTER_TIMEOUT_SECONDS) -> None:
        """Until every node says ``cluster_state:ok`` and knows all the others as connected."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                if all(self._settled(i) for i in range(len(self.nodes))):
                    return
            except redis.RedisError as exc:
                last = repr(exc)
            time.sleep(0.05)
        states = []
        for i, node in enumerate(self.nodes):
            try:
                state = _cluster_info(self._admin(i)).get("cluster_state")
                states.append(f"{node!r}: {state}")
            except Exception as exc:
                states.append(f"{node!r}: {exc!r}")
        raise RuntimeError(
            f"cluster not ok within {timeout:.0f} s ({'; '.join(states)}; last error {last})"
        )

    def wait_state_ok(self, timeout: float = CLUSTER_TIMEOUT_SECONDS) -> None:
        """Until every running node says ``cluster_state:ok`` (dead nodes may stay flagged)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if all(
                    _cluster_info(self._admin(i)).get("cluster_state") == "ok"
                    for i in self._running()
                ):
                    return
            time.sleep(0.05)
        raise RuntimeError(f"cluster_state not ok on every running node within {timeout:.0f} s")

    def _settled(self, index: int) -> bool:
        admin = self._admin(index)
        info = _cluster_info(admin)
        if info.get("cluster_state") != "ok":
            return False
        if int(info.get("cluster_known_nodes", 0)) != len(self.nodes):
            return False
        # Every link up (no node flagged fail/pfail or handshaking) from this node's view.
        for line in admin.execute_command("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if len(fields) < 8:
                continue
            flags = fields[2]
            if any(f in flags for f in ("fail", "handshake", "noaddr")) or fields[7] != (
                "connected"
            ):
                return False
        return True

    def close(self) -> None:
        for index in list(self._admins):
            self._close_admin(index)
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.resume()
            with contextlib.suppress(Exception):
                node.close()
        if self._tls_dir is not None:
            self._tls_dir.cleanup()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LocalCluster {', '.join(repr(node) for node in self.nodes)}>"

    # -- clients -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT`` of the first node (any node's address works)."""
        return f"redis://{LOOPBACK}:{self.nodes[0].port}"

    @property
    def tls_url(self) -> str:
        """``rediss://127.0.0.1:TLS_PORT?ssl_ca_certs=…`` of node 0 (``tls=True`` only)."""
        if not self.tls_ports or self.ca_file is None:
            raise RuntimeError("this cluster was started without tls=True")
        return f"rediss://{LOOPBACK}:{self.tls_ports[0]}?ssl_ca_certs={quote(self.ca_file)}"

    def client(self, **kwargs: Any) -> RedisCluster:
        """A new ``redis.cluster.RedisCluster`` (``kwargs`` go to it) discovered from node 0."""
        kwargs.setdefault("socket_connect_timeout", 2.0)
        kwargs.setdefault("socket_timeout", 5.0)
        running = next(node for node in self.nodes if node.running)
        return RedisCluster(host=LOOPBACK, port=running.port, **kwargs)

    def primary_nodes(self) -> list[RedisServer]:
        """The nodes that are primaries now (a failover changes them), as a running node
        sees it."""
        index = self._running()[0]
        ports = set()
        for line in self._admin(index).execute_command("CLUSTER", "NODES").splitlines():
            fields = line.split()
            if len(fields) >= 3 and "master" in fields[2] and "fail" not in fields[2]:
                ports.add(int(fields[1].split("@")[0].rsplit(":", 1)[1]))
        return [node for node in self.nodes if node.port in ports]

    def node_for_key(self, key: str | bytes) -> RedisServer:
        """The node serving ``key``'s slot (as a running node sees it)."""
        slot = redis.crc.key_slot(key.encode() if isinstance(key, str) else key)
        for index in self._running():
            for start, end, owner, *_replicas in self._admin(index).execute_command(
                "CLUSTER", "SLOTS"
            ):
                if start <= slot <= end:
                    port = int(owner[1])
                    return next(node for node in self.nodes if node.port == port)
        raise RuntimeError(f"no running node knows slot {slot}")

    def _admin(self, index: int) -> redis.Redis:
        admin = self._admins.get(index)
        if admin is None:
            node = self.nodes[index]
            if not node.running:
                raise RuntimeError(f"{node!r} is not running")
            admin = node.client(decode_responses=True, driver_info=None)
            self._admins[index] = admin
        return admin

    def _close_admin(self, index: int) -> None:
        admin = self._admins.pop(index, None)
        if admin is not None:
            with contextlib.suppress(Exception):
                admin.close()

    # -- inspection and housekeeping ----------------------------------------

    def _running(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.running]

    def commandstats(self) -> dict[str, int]:
        """Calls per command summed over the running nodes (see ``RedisServer.commandstats``)."""
        total: dict[str, int] = {}
        for i in self._running():
            for name, calls in self.nodes[i].commandstats().items():
                total[name] = total.get(name, 0) + calls
        return total

    def reset_stats(self) -> None:
        for i in self._running():
            self.nodes[i].reset_stats()

    def flushall(self) -> None:
        for i in self._running():
            self.nodes[i].flushall()

    def delete_acl_users(self) -> None:
        for i in self._running():
            self.nodes[i].delete_acl_users()

    def reset(self) -> None:
        """Every node running, cluster ok, no keys, no extra ACL users, zeroed statistics."""
        for node in self.nodes:
            if node.paused:
                node.resume()
        if not all(node.running for node in self.nodes):
            self.start()
        self.flushall()
        self.delete_acl_users()
        self.reset_stats()

    def dbsize(self) -> int:
        return sum(int(self._admin(i).dbsize()) for i in self._running())

    def add_acl_user(self, username: str, password: str, rules: str) -> str:
        """``ACL SETUSER`` on every node (ACLs are per node) and a URL that logs in as it."""
        for i in self._running():
            self.nodes[i].add_acl_user(username, password, rules)
        return (
            f"redis://{quote(username, safe='')}:{quote(password, safe='')}"
            f"@{LOOPBACK}:{self.nodes[0].port}"
        )

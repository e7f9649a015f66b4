"""A real, throwaway ``redis-server`` for tests.

Each server listens on a free loopback port, keeps nothing on disk (``--save ''
--appendonly no``, ``--dir`` in its own temporary directory) and is a child
process of the test run, so tests can stop, kill, restart (on the same port),
pause and resume it. It never touches the machine's own Redis on 6379.

    with RedisServer() as server:
        client = server.client(decode_responses=True)
        client.set("telemetry:payment:pym_1", '{"runId": "run_1"}')
        assert server.commandstats()["set"] == 1
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import quote

import redis

INSTALL_HINT = (
    "redis-server is not installed; install it with `apt-get install -y redis-server` "
    "(Debian/Ubuntu) or `brew install redis` (macOS). `./run test` installs it when run as root."
)
START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
LOOPBACK = "127.0.0.1"

# Every server started in this process, so none outlives it (e.g. after a
# crash in a fixture or an interrupted run).
_LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:
    for proc in list(_LIVE):
        with contextlib.suppress(Exception):
            proc.kill()
            proc.wait(timeout=5)


def find_redis_server(executable: str | None = None) -> str:
    """The path of the ``redis-server`` binary, or ``RuntimeError`` with an install hint."""
    name = executable or os.environ.get("REDIS_SERVER_BIN") or "redis-server"
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{INSTALL_HINT} (looked for {name!r} on PATH)")
    return path


def free_port() -> int:
    """A loopback TCP port that is free right now (the OS's ephemeral range, never 6379)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


class RedisServer:
    """One ``redis-server`` child process on ``127.0.0.1:<port>``.

    Construction starts it (``start=False`` to start later) and waits until
    PING answers. ``stop``/``kill`` end it; ``start`` brings it back on the
    **same** port, empty (nothing is persisted, ACL users included).
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        executable: str | None = None,
        extra_args: list[str] | None = None,
        start: bool = True,
    ) -> None:
        self.executable = find_redis_server(executable)
        self._fixed_port = port is not None
        self.port: int = port if port is not None else free_port()
        self.extra_args = list(extra_args or [])
        self._tmp = tempfile.TemporaryDirectory(prefix="run-lookup-redis-")
        self.dir = Path(self._tmp.name)
        self.logfile = self.dir / "redis.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False
        self._admin: redis.Redis | None = None
        if start:
            self.start()

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> RedisServer:
        """Start the server (again) on ``self.port`` and wait until it answers PING."""
        if self.running:
            return self
        # A port picked by us can be taken by someone else between picking and
        # binding; only the very first start may move to another port.
        attempts = 1 if (self._fixed_port or self._proc is not None) else 3
        for attempt in range(attempts):
            try:
                self._spawn_and_wait()
                return self
            except RuntimeError:
                if attempt + 1 >= attempts or "Address already in use" not in self.log_tail():
                    raise
                self.port = free_port()
        return self  # pragma: no cover - the loop returns or raises

    def _spawn_and_wait(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.logfile.unlink()
        args = [
            self.executable,
            "--port",
            str(self.port),
            "--bind",
            LOOPBACK,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--daemonize",
            "no",
            "--logfile",
            str(self.logfile),
            *self.extra_args,
        ]
        self._close_admin()
        self._paused = False
        self._proc = subprocess.Popen(  # fixed argv, no shell
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a Ctrl-C in the terminal is for pytest, not for us
        )
        _LIVE.add(self._proc)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            code = self._proc.poll()
            if code is not None:
                raise RuntimeError(
                    f"redis-server on port {self.port} exited with status {code} while "
                    f"starting.\n--- {self.logfile} (tail) ---\n{self.log_tail()}"
                )
            probe = redis.Redis(
                host=LOOPBACK,
                port=self.port,
                socket_connect_timeout=0.5,
                socket_timeout=0.5,
                retry=None,
                driver_info=None,
            )
            try:
                if probe.ping():
                    return
            except redis.RedisError as exc:
                last_error = exc
            finally:
                probe.close()
            time.sleep(0.05)
        self._terminate(signal.SIGKILL)
        raise RuntimeError(
            f"redis-server on port {self.port} did not answer PING within "
            f"{START_TIMEOUT_SECONDS:.0f} s (last error: {last_error!r}).\n"
            f"--- {self.logfile} (tail) ---\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop gracefully (SIGTERM) and wait; falls back to SIGKILL after 10 s."""
        self._terminate(signal.SIGTERM)

    def kill(self) -> None:
        """Kill abruptly (SIGKILL), like a crash or an OOM kill, and reap it."""
        self._terminate(signal.SIGKILL)

    def _terminate(self, sig: signal.Signals) -> None:
        self._close_admin()
        proc = self._proc
        if proc is None or proc.poll() is not None:
            self._paused = False
            _LIVE.discard(proc)  # type: ignore[arg-type]
            return
        proc.send_signal(sig)
        if self._paused and sig != signal.SIGKILL:
            proc.send_signal(signal.SIGCONT)  # a stopped process cannot handle SIGTERM
        self._paused = False
        try:
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=STOP_TIMEOUT_SECONDS)
        _LIVE.discard(proc)

    def pause(self) -> None:
        """Freeze the process (SIGSTOP): connections stay open but nothing answers."""
        self._require_running()
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Undo ``pause`` (SIGCONT)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)
        self._paused = False

    def close(self) -> None:
        """Stop the server and delete its temporary directory."""
        self.stop()
        self._tmp.cleanup()

    @property
    def running(self) -> bool:
        """True while the process exists (paused counts as running)."""
        return self._proc is not None and self._proc.poll() is None

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "paused" if self._paused else ("running" if self.running else "stopped")
        return f"<RedisServer {LOOPBACK}:{self.port} {state}>"

    # -- clients -----------------------------------------------------------

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0``."""
        return f"redis://{LOOPBACK}:{self.port}/0"

    def client(self, **kwargs: Any) -> redis.Redis:
        """A new ``redis.Redis`` for this server; ``kwargs`` go to ``redis.Redis``."""
        kwargs.setdefault("socket_connect_timeout", 2.0)
        kwargs.setdefault("socket_timeout", 5.0)
        return redis.Redis(host=LOOPBACK, port=self.port, **kwargs)

    def _admin_client(self) -> redis.Redis:
        # One persistent connection without CLIENT SETINFO, so the statistics
        # show as little of the harness's own traffic as possible.
        self._require_running()
        if self._admin is None:
            self._admin = self.client(decode_responses=True, driver_info=None)
        return self._admin

    def _close_admin(self) -> None:
        if self._admin is not None:
            with contextlib.suppress(Exception):
                self._admin.close()
            self._admin = None

    def _require_running(self) -> None:
        if not self.running:
            raise RuntimeError(f"{self!r} is not running; call start() first")

    # -- inspection and housekeeping ----------------------------------------

    def commandstats(self) -> dict[str, int]:
        """Calls per command since the last reset, e.g. ``{"mget": 3, "scan": 12}``.

        Names are lowercase as Redis reports them; subcommands look like
        ``"config|resetstat"``. The harness's own ``info`` (and the
        ``config|resetstat`` of ``reset_stats``) are counted too.
        """
        info = self._admin_client().info("commandstats")
        stats: dict[str, int] = {}
        for key, value in info.items():
            if not key.startswith("cmdstat_"):
                continue
            name = key.removeprefix("cmdstat_").lower()
            if isinstance(value, dict):
                calls = value.get("calls", 0)
            else:  # "calls=3,usec=..." if a client ever hands it back unparsed
                fields = dict(part.split("=", 1) for part in str(value).split(","))
                calls = fields.get("calls", 0)
            stats[name] = int(calls)
        return stats

    def reset_stats(self) -> None:
        """``CONFIG RESETSTAT``: command statistics start again from zero."""
        self._admin_client().config_resetstat()

    def flushall(self) -> None:
        """Delete every key in every database."""
        self._admin_client().flushall()

    def acl_users(self) -> list[str]:
        return list(self._admin_client().acl_users())

    def delete_acl_users(self) -> None:
        """Remove every ACL user except ``default``."""
        admin = self._admin_client()
        extra = [user for user in admin.acl_users() if user != "default"]
        if extra:
            admin.acl_deluser(*extra)

    def reset(self) -> None:
        """Back to a clean state: no keys, no extra ACL users, zeroed statistics."""
        self.flushall()
        self.delete_acl_users()
        self.reset_stats()

    def add_acl_user(self, username: str, password: str, rules: str) -> str:
        """Create (or replace) an ACL user and return a URL that logs in as it.

        ``rules`` is a space-separated ACL rule list, e.g.
        ``"-@all +get +mget +scan +pttl +ttl +type +ping ~telemetry:*"``. The
        user starts from ``reset`` (no commands, no keys), is switched ``on``
        and gets ``password``.
        """
        self._admin_client().execute_command(
            "ACL", "SETUSER", username, "reset", "on", f">{password}", *rules.split()
        )
        return (
            f"redis://{quote(username, safe='')}:{quote(password, safe='')}"
            f"@{LOOPBACK}:{self.port}/0"
        )

    def log_tail(self, lines: int = 30) -> str:
        """The last ``lines`` lines of the server log (for error messages)."""
        try:
            text = self.logfile.read_text(errors="replace")
        except OSError:
            return "(no log written)"
        return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"

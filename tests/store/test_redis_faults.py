"""Redis faults, against real redis-server processes the tests kill, pause and restart.

Each fault is driven through the component a user touches: the library (the
app's and the CLI's reader), the Streamlit pages (AppTest) and ``python -m
telemetry`` (a subprocess). Faults are triggered deterministically:

- in-process (library, AppTest): a wrapper around ``SingleStore.fetch`` /
  ``SingleStore.inspect`` / ``SingleStore.scan_fetch`` (or the summary's progress
  callback) kills or pauses the server at an exact point; the next round trip
  then fails on the real socket;
- for a CLI subprocess: ``KillSwitch``, a TCP relay between the CLI and the
  server that kills (or restarts) the server when the CLI sends its N-th
  ``MGET`` or ``SCAN`` — the CLI runs unmodified, as a user runs it.

"Quickly" is asserted with generous bounds (15 s) so a slow CI machine never
flakes: the point is that nothing hangs, not a latency budget.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import io
import random
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis

import cli_process
from apptest_support import (
    capture_downloads,
    download_bytes,
    make_app,
    metrics,
    no_exception,
    page_text,
    raw_text,
    shown,
    use_redis,
)
from redis_server import LOOPBACK, RedisServer
from telemetry import CSV_HEADER, Settings, SingleStore, Status, connect, parse_ids, results_csv
from telemetry.reader import TelemetryReader
from telemetry.summary import summarize
from ui import context

TTL = 1_209_600
PASSWORD = "pw-Fault-S3cret"
USER = "app"
PAGES = ("pages/lookup.py", "pages/bulk.py", "pages/summary.py")
QUICK = 15.0  # seconds: "answers quickly" — generous, only hangs fail it
DOWN_HINT = "is the server running and is REDIS_URL right? Retry once it is back"
SLOW_HINT = "the server may be overloaded or paused; retry, or raise REDIS_SOCKET_TIMEOUT"


# --------------------------------------------------------------------------- helpers


def ids(n: int, start: int = 0) -> list[str]:
    return [f"pym_f{i:06d}" for i in range(start, start + n)]


def run_of(entity_id: str) -> str:
    return "run_" + entity_id.removeprefix("pym_")


def seed(client: redis.Redis, entity_ids: list[str], *, rich: bool = False) -> None:
    """Payment records (minimal shape, 14 d TTL) whose run ID derives from the entity ID."""
    pipe = client.pipeline(transaction=False)
    for entity_id in entity_ids:
        value: dict[str, Any] = {"runId": run_of(entity_id)}
        if rich:
            value["organizationId"] = "org_f"
        pipe.set(f"telemetry:payment:{entity_id}", orjson.dumps(value), ex=TTL)
    pipe.execute()


def with_user(server: RedisServer) -> str:
    """(Re)create the app's ACL user — a restarted server has none — and return its URL."""
    return server.add_acl_user(USER, PASSWORD, "+@all ~*")


def redacted(server: RedisServer, port: int | None = None) -> str:
    return f"redis://{USER}:***@{LOOPBACK}:{port or server.port}/0"


def reader_for(url: str, **overrides: Any) -> TelemetryReader:
    """A reader built the way the app and the CLI build it."""
    settings = Settings.load(redis_url=url, **overrides)
    return TelemetryReader(connect(settings), settings)


def resolve(reader: TelemetryReader, entity_ids: list[str]) -> Any:
    parsed = parse_ids("\n".join(entity_ids), reader.registry, max_ids=200_000)
    return reader.resolve(parsed.queries)


def csv_rows(text: str) -> list[list[str]]:
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == list(CSV_HEADER)
    return rows[1:]


# ``python -m telemetry ARGS``; a hang fails the test through the timeout.
python_m = functools.partial(cli_process.python_m, timeout=QUICK * 2)


def one_error_line(proc: subprocess.CompletedProcess[bytes]) -> str:
    err = proc.stderr.decode()
    assert proc.returncode == 2, err
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    assert err.startswith("error: ")
    return err


def timed(call: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    out = call()
    return out, time.monotonic() - start


class KillSwitch:
    """A TCP relay to a real redis-server that kills (or restarts) it on the client's
    ``nth`` ``command``, before forwarding that command: a deterministic mid-run fault
    for a CLI subprocess. New connections are relayed again once the server is back."""

    def __init__(
        self, server: RedisServer, command: str, nth: int, action: Callable[[], None]
    ) -> None:
        self.server = server
        self.token = f"\r\n{command.upper()}\r\n".encode()
        self.nth = nth
        self.action = action
        self.seen = 0
        self.fired = threading.Event()
        self._lock = threading.Lock()
        # Held while the action runs: nothing reaches the client (not even the EOF of the
        # killed server) and no new connection is relayed until the action is over.
        self._acting = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.listener = socket.create_server((LOOPBACK, 0))
        self.port = int(self.listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self) -> str:
        return f"redis://{USER}:{PASSWORD}@{LOOPBACK}:{self.port}/0"

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self._acting:
                pass
            try:
                upstream = socket.create_connection((LOOPBACK, self.server.port), timeout=5)
                upstream.settimeout(None)
            except OSError:
                client.close()  # the server is down: the client sees the connection drop
                continue
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._up, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._down, args=(upstream, client), daemon=True).start()

    def _up(self, client: socket.socket, upstream: socket.socket) -> None:
        tail = b""
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                window = tail + data
                if not self.fired.is_set():
                    with self._lock:
                        self.seen += window.count(self.token) - tail.count(self.token)
                        trigger = self.seen >= self.nth and not self.fired.is_set()
                        if trigger:
                            self._acting.acquire()
                            self.fired.set()
                    if trigger:
                        try:
                            self.action()
                        finally:
                            self._acting.release()
                        break
                upstream.sendall(data)
                tail = window[-len(self.token) :]
        for sock in (client, upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _down(self, upstream: socket.socket, client: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := upstream.recv(65536):
                client.sendall(data)
        with self._acting:
            pass
        with contextlib.suppress(OSError):
            client.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture
def server(fresh_redis_server: RedisServer) -> RedisServer:
    """A server of the test's own with the app's password-protected user."""
    with_user(fresh_redis_server)
    return fresh_redis_server


def bring_back(server: RedisServer, entity_ids: list[str]) -> None:
    """Start the server again (same port, empty), recreate the user, reseed."""
    server.resume()
    server.start()
    with_user(server)
    seed(server.client(), entity_ids)


# --------------------------------------------------------------------------- down at start


def _page_works(at: Any, page: str, entity_ids: list[str]) -> None:
    """The page's own job, done after recovery."""
    no_exception(at)
    assert not at.error, [e.value for e in at.error]
    if page == "pages/lookup.py":
        assert [b.proto.url for b in at.link_button] == [
            f"https://cloud.trigger.dev/runs/{run_of(entity_ids[0])}"
        ]
    elif page == "pages/bulk.py":
        at.text_area(key="bulk_text").input("\n".join([*entity_ids, "pym_nope"])).run()
        no_exception(at)
        assert metrics(at)["Found"] == f"{len(entity_ids):,}"
        assert metrics(at)["Not found"] == "1"
    else:
        assert metrics(at)["Records"] == f"{len(entity_ids):,}"
        assert metrics(at)["Keys scanned"] == f"{len(entity_ids):,}"


@pytest.mark.parametrize("fault", ["killed", "paused"])
@pytest.mark.parametrize("page", PAGES)
def test_page_with_redis_down_at_start_answers_quickly_and_recovers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: RedisServer, page: str, fault: str
) -> None:
    """Redis killed (refused) or paused (SIGSTOP: accepts, never answers) before the app
    starts: every page answers within the timeouts with the redacted URL and a hint, a
    rerun while still down does too, and once Redis is back the page works again without
    restarting the app — via Retry after a kill, via the plain next run after a pause."""
    entity_ids = ids(3)
    seed(server.client(), entity_ids)
    use_redis(monkeypatch, tmp_path, with_user(server))
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "1")
    if fault == "killed":
        server.kill()
    else:
        server.pause()

    at, elapsed = timed(lambda: make_app(page=page, query={"id": entity_ids[0]}))
    assert elapsed < QUICK
    no_exception(at)
    errors = "\n".join(shown(e.value) for e in at.error)
    if fault == "killed":
        assert "Cannot reach Redis" in errors
        assert DOWN_HINT in errors
    else:
        assert "Redis did not answer in time" in errors
        assert SLOW_HINT in errors
    assert f"(Redis at {redacted(server)})" in errors
    assert PASSWORD not in raw_text(at)
    assert any(b.label == "Retry" for b in at.button)

    _, elapsed = timed(at.run)  # still down: the same answer, as fast
    assert elapsed < QUICK
    assert at.error
    no_exception(at)

    if fault == "killed":
        bring_back(server, entity_ids)
        next(b for b in at.button if b.label == "Retry").click().run()
    else:
        server.resume()
        at.run()
    _page_works(at, page, entity_ids)


@pytest.mark.parametrize("fault", ["killed", "paused"])
@pytest.mark.parametrize("command", ["resolve", "summary", "seed"])
def test_cli_with_redis_down_answers_quickly_and_works_once_back(
    server: RedisServer, tmp_path: Path, command: str, fault: str
) -> None:
    """Every command against a killed or paused Redis: exit 2 within the timeouts, one line
    with the redacted URL and a hint; the same command works as soon as Redis is back."""
    entity_ids = ids(2)
    url = with_user(server)
    argv = {
        "resolve": ["resolve", "--redis-url", url],
        "summary": ["summary", "--since", "all", "--format", "json", "--redis-url", url],
        "seed": ["seed", "--records", "20", "--redis-url", url],
    }[command]
    stdin = "\n".join(entity_ids).encode()
    env = {"REDIS_SOCKET_TIMEOUT": "1"}
    if fault == "killed":
        server.kill()
    else:
        server.pause()

    proc = python_m(*argv, stdin=stdin, env=env)
    err = one_error_line(proc)
    assert proc.stdout == b""
    if fault == "killed":
        assert err.startswith("error: Cannot reach Redis (")
        assert DOWN_HINT in err
    else:
        assert err.startswith("error: Redis did not answer in time (")
        assert SLOW_HINT in err
    assert f"(Redis at {redacted(server)})" in err
    assert PASSWORD not in err

    if fault == "killed":
        bring_back(server, entity_ids)
    else:
        server.resume()
        seed(server.client(), entity_ids)
    proc = python_m(*argv, stdin=stdin, env=env)
    assert proc.returncode == 0, proc.stderr.decode()
    if command == "resolve":
        assert [row[1] for row in csv_rows(proc.stdout.decode())] == ["found", "found"]
    elif command == "summary":
        body = orjson.loads(proc.stdout)
        assert (body["complete"], body["records"]) == (True, 2)
    else:
        assert server.client().dbsize() >= 20


# --------------------------------------------------------------------------- bulk resolve


@contextlib.contextmanager
def fault_after_fetches(
    monkeypatch: pytest.MonkeyPatch, n: int, fault: Callable[[], None]
) -> Iterator[list[int]]:
    """``SingleStore.fetch`` runs ``fault`` (kill/pause the server) after its ``n``-th call."""
    original = SingleStore.fetch
    calls = [0]

    def fetch(self: SingleStore, keys: list[str]) -> Any:
        out = original(self, keys)
        calls[0] += 1
        if calls[0] == n:
            fault()
        return out

    monkeypatch.setattr(SingleStore, "fetch", fetch)
    monkeypatch.setattr(SingleStore, "read_ahead", False)  # every chunk through fetch
    try:
        yield calls
    finally:
        monkeypatch.setattr(SingleStore, "fetch", original)


def _expected_first_chunk(entity_ids: list[str], seeded: set[str]) -> list[tuple[str, str]]:
    return [
        (entity_id, "found" if entity_id in seeded else "not_found") for entity_id in entity_ids
    ]


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_resolve_keeps_rows_read_before_redis_died(
    monkeypatch: pytest.MonkeyPatch, server: RedisServer, fault: str
) -> None:
    """Redis killed (or frozen) after the first chunk of 1,000 keys: those rows are kept
    exactly, every later row is ``error`` with the reason, every input row is in the CSV
    exactly once, in input order."""
    entity_ids = ids(3_000)
    seeded = set(entity_ids[::2])
    seed(server.client(), sorted(seeded))
    reader = reader_for(with_user(server), redis_socket_timeout=1)
    with fault_after_fetches(monkeypatch, 1, getattr(server, fault)):
        resolution, elapsed = timed(lambda: resolve(reader, entity_ids))
    assert elapsed < QUICK
    assert not resolution.complete
    reason = "Cannot reach Redis" if fault == "kill" else "Redis did not answer in time"
    assert resolution.error.startswith(f"Redis failed after 1,000 of 3,000 keys: {reason}")
    assert PASSWORD not in resolution.error
    rows = [(r.query, r.status.value) for r in resolution.results]
    assert rows[:1_000] == _expected_first_chunk(entity_ids[:1_000], seeded)
    assert rows[1_000:] == [(entity_id, "error") for entity_id in entity_ids[1_000:]]
    first = resolution.results[0]
    assert (first.run_id, first.entity_type) == (run_of(entity_ids[0]), "payment")
    assert all(r.detail.startswith(f"not read: {reason}") for r in resolution.results[1_000:])
    exported = csv_rows(results_csv(resolution.results))
    assert [row[0] for row in exported] == entity_ids
    assert Counter(row[1] for row in exported) == {"found": 500, "not_found": 500, "error": 2_000}


@pytest.mark.parametrize("chunk", [1, 2], ids=["first-chunk", "second-chunk"])
def test_resolve_keeps_rows_when_redis_dies_while_inspecting_odd_keys(
    monkeypatch: pytest.MonkeyPatch, server: RedisServer, chunk: int
) -> None:
    """A chunk holding a non-string key needs a second round trip (TYPE); Redis dying right
    before it must not throw away what was read: the chunk's string keys are kept, only
    the keys not read are ``error``."""
    entity_ids = ids(3_000)
    client = server.client()
    seed(client, entity_ids[::2])
    odd = entity_ids[(chunk - 1) * 1_000 + 1]  # not seeded as a string: a hash instead
    client.hset(f"telemetry:payment:{odd}", "runId", "run_hash")
    reader = reader_for(with_user(server))
    original = SingleStore.inspect

    def inspect(self: SingleStore, keys: list[str]) -> Any:
        server.kill()
        return original(self, keys)

    monkeypatch.setattr(SingleStore, "inspect", inspect)
    resolution = resolve(reader, entity_ids)
    assert not resolution.complete
    assert "Cannot reach Redis" in resolution.error
    statuses = [r.status.value for r in resolution.results]
    read = chunk * 1_000
    expected = _expected_first_chunk(entity_ids[:read], set(entity_ids[::2]))
    expected[read - 1_000 + 1] = (odd, "error")
    assert list(zip(entity_ids, statuses, strict=True))[:read] == expected
    assert statuses[read:] == ["error"] * (3_000 - read)
    assert [row[0] for row in csv_rows(results_csv(resolution.results))] == entity_ids


def test_cli_resolve_redis_killed_mid_run_keeps_rows_and_exits_2(server: RedisServer) -> None:
    """``python -m telemetry resolve`` with Redis killed when the CLI sends its second chunk
    (3,000 IDs = 3 chunks): the CSV still has every input row once, in order — chunk 1
    resolved, the rest ``error`` with the reason — one error line, exit 2."""
    entity_ids = ids(3_000)
    seed(server.client(), entity_ids[::2])
    switch = KillSwitch(server, "MGET", 2, server.kill)
    try:
        proc = python_m(
            "resolve", "--redis-url", switch.url(), stdin="\n".join(entity_ids).encode()
        )
    finally:
        switch.close()
    assert switch.fired.is_set()
    err = one_error_line(proc)
    assert err.startswith("error: Redis failed after 1,000 of 3,000 keys: Cannot reach Redis")
    assert f"(Redis at {redacted(server, switch.port)})" in err
    out = proc.stdout.decode()
    assert PASSWORD not in out + err
    rows = csv_rows(out)
    assert [row[0] for row in rows] == entity_ids
    assert [(row[0], row[1]) for row in rows[:1_000]] == _expected_first_chunk(
        entity_ids[:1_000], set(entity_ids[::2])
    )
    assert rows[0][4] == run_of(entity_ids[0])
    assert {row[1] for row in rows[1_000:]} == {"error"}
    assert all(row[9].startswith("not read: Cannot reach Redis") for row in rows[1_000:])


def test_bulk_page_redis_killed_mid_resolve_keeps_rows_and_resolve_recovers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: RedisServer
) -> None:
    """The Bulk page with Redis killed after the first chunk: a warning, the rows read are
    shown, the rest are ``error``, the CSV download has every input row once; with Redis
    back, **Resolve** reads everything again."""
    entity_ids = ids(3_000)
    seed(server.client(), entity_ids[::2])
    use_redis(monkeypatch, tmp_path, with_user(server))
    downloads = capture_downloads(monkeypatch)
    at = make_app(page="pages/bulk.py")
    with fault_after_fetches(monkeypatch, 1, server.kill):
        at.text_area(key="bulk_text").input("\n".join(entity_ids)).run()
    no_exception(at)
    text = page_text(at)
    assert "Incomplete: Redis failed after 1,000 of 3,000 keys: Cannot reach Redis" in text
    assert "Press Resolve to retry" in text.replace("**", "")
    assert PASSWORD not in raw_text(at)
    assert {k: metrics(at)[k] for k in ("Found", "Not found", "Errors")} == {
        "Found": "500",
        "Not found": "500",
        "Errors": "2,000",
    }
    assert len(at.dataframe[0].value) == 3_000
    rows = csv_rows(download_bytes(downloads, "run-lookup-results.csv").decode())
    assert [row[0] for row in rows] == entity_ids
    assert Counter(row[1] for row in rows) == {"found": 500, "not_found": 500, "error": 2_000}

    bring_back(server, entity_ids)
    next(b for b in at.button if b.label == "Resolve").click().run()
    no_exception(at)
    assert "Incomplete" not in page_text(at)
    assert metrics(at)["Found"] == "3,000"
    assert "Errors" not in metrics(at)


def test_lookup_page_redis_killed_while_inspecting_a_non_string_key_offers_retry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: RedisServer
) -> None:
    """Looking up a key that holds a hash takes a second round trip (TYPE); Redis dying
    right before it is an "unreachable" error with Retry, and Retry (Redis back) shows the
    invalid record."""
    client = server.client()
    client.hset("telemetry:payment:pym_hash", "runId", "run_hash")
    use_redis(monkeypatch, tmp_path, with_user(server))
    original = SingleStore.inspect

    def inspect(self: SingleStore, keys: list[str]) -> Any:
        server.kill()
        return original(self, keys)

    monkeypatch.setattr(SingleStore, "inspect", inspect)
    at = make_app(query={"id": "pym_hash"})
    no_exception(at)
    errors = "\n".join(shown(e.value) for e in at.error)
    assert "Redis failed after 0 of 1 keys: Cannot reach Redis" in errors
    assert redacted(server) in errors
    monkeypatch.setattr(SingleStore, "inspect", original)
    bring_back(server, [])
    server.client().hset("telemetry:payment:pym_hash", "runId", "run_hash")
    next(b for b in at.button if b.label == "Retry").click().run()
    no_exception(at)
    assert "key holds a Redis hash, not a string" in page_text(at)


# --------------------------------------------------------------------------- summary scan


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_summary_cut_short_is_partial_and_a_retry_after_restart_is_complete(
    server: RedisServer, fault: str
) -> None:
    """Redis killed (or frozen) after the first SCAN batch: the summary is ``complete:
    false`` with the keys scanned so far and the reason; after a restart the same reader
    (same client and pool) scans everything."""
    entity_ids = ids(5_000)
    seed(server.client(), entity_ids)
    reader = reader_for(with_user(server), redis_socket_timeout=1)
    batches = [0]

    def progress(scanned: int, records: int, invalid: int) -> None:
        batches[0] += 1
        if batches[0] == 1:
            getattr(server, fault)()

    summary, elapsed = timed(lambda: summarize(reader, progress=progress))
    assert elapsed < QUICK
    body = summary.to_json()
    assert body["complete"] is False
    assert 0 < body["scanned_keys"] < 5_000
    assert body["records"] == body["scanned_keys"]  # every key read so far was counted
    reason = "Cannot reach Redis" if fault == "kill" else "Redis did not answer in time"
    assert summary.error.startswith(reason)
    assert redacted(server) in summary.error
    assert PASSWORD not in summary.error

    if fault == "kill":
        bring_back(server, entity_ids)
    else:
        server.resume()
    again = summarize(reader)
    assert (again.complete, again.scanned_keys, again.records, again.error) == (
        True,
        5_000,
        5_000,
        "",
    )


def test_summary_across_a_restart_is_flagged_incomplete(server: RedisServer) -> None:
    """Redis restarted between two SCAN batches (a crash and a supervisor restart, or a
    failover): the client reconnects by itself, but a SCAN cursor means nothing to the new
    process, so the summary must not claim to be complete."""
    entity_ids = ids(5_000)
    seed(server.client(), entity_ids)
    reader = reader_for(with_user(server))
    batches = [0]

    def progress(scanned: int, records: int, invalid: int) -> None:
        batches[0] += 1
        if batches[0] == 1:
            server.kill()
            bring_back(server, entity_ids)

    summary = summarize(reader, progress=progress)
    assert summary.complete is False
    assert "reconnected during the scan" in summary.error
    assert 0 < summary.scanned_keys < 5_000
    again = summarize(reader)
    assert (again.complete, again.scanned_keys) == (True, 5_000)


def test_scan_keeps_what_it_read_when_redis_dies_while_inspecting_odd_keys(
    monkeypatch: pytest.MonkeyPatch, server: RedisServer
) -> None:
    """A SCAN batch with a non-string key needs a TYPE round trip; Redis dying right before
    it ends the scan as partial (with the reason), not as an exception that loses it all."""
    entity_ids = ids(3_000)
    client = server.client()
    seed(client, entity_ids)
    client.rpush("telemetry:payment:pym_list", "x")
    reader = reader_for(with_user(server))
    original = SingleStore.inspect

    def inspect(self: SingleStore, keys: list[str]) -> Any:
        server.kill()
        return original(self, keys)

    monkeypatch.setattr(SingleStore, "inspect", inspect)
    summary = summarize(reader)
    assert summary.complete is False
    assert summary.error.startswith("Cannot reach Redis")
    # Everything read was counted; the list key was scanned but could not be read.
    assert summary.records + 1 == summary.scanned_keys <= 3_001
    assert summary.to_json()["complete"] is False


def scan_fault_after_first_batch(
    monkeypatch: pytest.MonkeyPatch, fault: Callable[[], None]
) -> Callable[[], None]:
    """``SingleStore.scan_fetch`` runs ``fault`` once its first batch was handed over; returns
    the function that removes the hook."""
    original = SingleStore.scan_fetch

    def scan_fetch(self: SingleStore, *args: Any, **kwargs: Any) -> Iterator[Any]:
        for index, step in enumerate(original(self, *args, **kwargs)):
            yield step
            if index == 0:
                fault()

    monkeypatch.setattr(SingleStore, "scan_fetch", scan_fetch)
    return lambda: monkeypatch.setattr(SingleStore, "scan_fetch", original)


@pytest.mark.parametrize("fault", ["kill", "restart"])
def test_cli_summary_json_cut_by_redis_is_partial_then_complete_after_restart(
    server: RedisServer, fault: str
) -> None:
    """``summary --format json`` with Redis killed (or restarted) when the CLI sends its
    second SCAN: the JSON is printed with ``complete: false`` and how far it got, one
    error line, exit 2; once Redis is back the same command is complete."""
    entity_ids = ids(5_000)
    seed(server.client(), entity_ids)

    def restart() -> None:
        server.kill()
        bring_back(server, entity_ids)

    # The first pipeline is a SCAN alone; the third carries SCAN 3 and batch 2's MGET.
    switch = KillSwitch(server, "SCAN", 3, server.kill if fault == "kill" else restart)
    argv = ["summary", "--since", "all", "--format", "json", "--redis-url", switch.url()]
    try:
        proc = python_m(*argv)
        assert switch.fired.is_set()
        err = one_error_line(proc)
        assert err.startswith(
            "error: scan incomplete: "
            + ("Cannot reach Redis" if fault == "kill" else "Redis reconnected during the scan")
        )
        assert PASSWORD not in err
        body = orjson.loads(proc.stdout)
        assert body["complete"] is False
        assert 0 < body["scanned_keys"] < 5_000
        assert body["records"] == body["scanned_keys"]
        if fault == "kill":
            bring_back(server, entity_ids)
        proc = python_m(*argv)
    finally:
        switch.close()
    assert proc.returncode == 0, proc.stderr
    body = orjson.loads(proc.stdout)
    assert (body["complete"], body["scanned_keys"], body["records"]) == (True, 5_000, 5_000)


@pytest.mark.parametrize("fault", ["kill", "pause"])
def test_summary_page_scan_cut_short_warns_and_refresh_recovers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: RedisServer, fault: str
) -> None:
    """The Summary page with Redis killed (or frozen) after the first batch: partial numbers
    with an "Incomplete scan" warning and the reason, within the timeouts; the partial view
    is not cached, so **Refresh** once Redis is back shows everything."""
    entity_ids = ids(5_000)
    seed(server.client(), entity_ids)
    use_redis(monkeypatch, tmp_path, with_user(server))
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "1")
    unhook = scan_fault_after_first_batch(monkeypatch, getattr(server, fault))
    at, elapsed = timed(lambda: make_app(page="pages/summary.py"))
    assert elapsed < QUICK
    no_exception(at)
    text = page_text(at)
    reason = "Cannot reach Redis" if fault == "kill" else "Redis did not answer in time"
    assert f"Incomplete scan — {reason}" in text
    assert PASSWORD not in raw_text(at)
    scanned = int(metrics(at)["Keys scanned"].replace(",", ""))
    assert 0 < scanned < 5_000
    assert metrics(at)["Records"] == f"{scanned:,}"

    unhook()
    if fault == "kill":
        bring_back(server, entity_ids)
    else:
        server.resume()
    next(b for b in at.button if b.label == "Refresh").click().run()
    no_exception(at)
    assert "Incomplete scan" not in page_text(at)
    assert metrics(at)["Keys scanned"] == "5,000"
    assert metrics(at)["Records"] == "5,000"


# --------------------------------------------------------------------------- slow Redis


def test_lookup_page_with_redis_frozen_mid_session_is_bounded_and_recovers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, server: RedisServer
) -> None:
    """Redis frozen (SIGSTOP) after a successful lookup (the sidebar's PING is still
    cached): the next lookup answers within the socket timeout with a clear message and a
    Retry button — the page does not freeze — and works again once Redis resumes."""
    entity_ids = ids(2)
    seed(server.client(), entity_ids)
    use_redis(monkeypatch, tmp_path, with_user(server))
    monkeypatch.setenv("REDIS_SOCKET_TIMEOUT", "1")
    at = make_app(query={"id": entity_ids[0]})
    assert not at.error
    server.pause()
    _, elapsed = timed(lambda: at.text_input(key="id").input(entity_ids[1]).run())
    assert elapsed < QUICK
    no_exception(at)
    errors = "\n".join(shown(e.value) for e in at.error)
    assert errors.startswith("Redis did not answer in time (Timeout reading from socket).")
    assert SLOW_HINT in errors
    assert redacted(server) in errors
    server.resume()
    next(b for b in at.button if b.label == "Retry").click().run()
    no_exception(at)
    assert not at.error
    assert [b.proto.url for b in at.link_button] == [
        f"https://cloud.trigger.dev/runs/{run_of(entity_ids[1])}"
    ]


# --------------------------------------------------------------------------- churn


class Churner:
    """A producer rewriting a set of keys as fast as it can: short TTLs (1–50 ms), values
    overwritten with new runs, invalid JSON, a hash in place of the string, deletions."""

    def __init__(self, server: RedisServer, keys: list[str]) -> None:
        self.client = server.client()
        self.keys = keys
        self.stop = threading.Event()
        self.writes = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Churner:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=10)
        self.client.close()

    def _run(self) -> None:
        rng = random.Random(7)
        while not self.stop.is_set():
            pipe = self.client.pipeline(transaction=False)
            for key in rng.sample(self.keys, 50):
                choice = rng.randrange(5)
                if choice == 0:
                    pipe.set(
                        key, orjson.dumps({"runId": f"run_c{self.writes}"}), px=rng.randint(1, 50)
                    )
                elif choice == 1:
                    pipe.set(key, orjson.dumps({"runId": f"run_c{self.writes}"}), ex=TTL)
                elif choice == 2:
                    pipe.set(key, b"{not json", px=rng.randint(1, 50))
                elif choice == 3:
                    pipe.delete(key)
                    pipe.hset(key, "runId", "run_hash")
                    pipe.pexpire(key, rng.randint(1, 50))
                else:
                    pipe.delete(key)
            pipe.execute()
            self.writes += 1


def test_scan_under_churn_never_crashes_and_misses_no_stable_key(server: RedisServer) -> None:
    """Keys expiring, overwritten, retyped and deleted during the scans: every scan finishes
    complete, every key present throughout is counted (SCAN's guarantee), and nothing is
    counted that SCAN did not return (records + invalid ≤ keys scanned). Duplicates are
    possible by SCAN semantics, so counts under churn are approximate."""
    stable = ids(3_000)
    seed(server.client(), stable)
    churn = [f"telemetry:invoice:inv_churn{i}" for i in range(500)]
    reader = reader_for(with_user(server))
    with Churner(server, churn) as churner:
        summaries = [summarize(reader) for _ in range(5)]
        seen: list[str] = []
        for batch in reader.scan():
            seen += [record.key for record in batch.records]
    assert churner.writes > 0
    for summary in summaries:
        assert summary.complete and not summary.error
        assert summary.by_type["payment"] >= 3_000
        assert summary.records + summary.invalid_records <= summary.scanned_keys
        assert summary.by_type.keys() <= {"payment", "invoice"}
    assert {f"telemetry:payment:{i}" for i in stable} <= set(seen)


def test_resolve_under_churn_reads_stable_keys_exactly_and_never_errors(
    server: RedisServer,
) -> None:
    """Resolving while a producer rewrites, expires and retypes some of the keys: stable
    keys resolve to their runs, churned ones to whatever they were at that instant (found,
    not found or invalid) — never ``error``, never a crash, one row per ID."""
    stable = ids(2_000)
    seed(server.client(), stable)
    churn_ids = [f"inv_churn{i}" for i in range(500)]
    reader = reader_for(with_user(server))
    with Churner(server, [f"telemetry:invoice:{i}" for i in churn_ids]):
        resolutions = [resolve(reader, stable + churn_ids) for _ in range(5)]
    for resolution in resolutions:
        assert resolution.complete, resolution.error
        results = resolution.results
        assert [r.query for r in results] == stable + churn_ids
        assert [(r.status, r.run_id) for r in results[:2_000]] == [
            (Status.FOUND, run_of(i)) for i in stable
        ]
        for r in results[2_000:]:
            assert r.status in (Status.FOUND, Status.NOT_FOUND, Status.INVALID_RECORD)
            if r.status is Status.INVALID_RECORD:
                assert r.detail.endswith(
                    ("value is not JSON", "key holds a Redis hash, not a string")
                )


class VanishingClient:
    """A real client whose MGET first deletes the keys it is asked for: the key was a
    string when TYPE answered, and expired before its value was read."""

    def __init__(self, client: redis.Redis) -> None:
        self._client = client
        self.vanished: list[Any] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def mget(self, keys: list[Any]) -> Any:
        self._client.delete(*keys)
        self.vanished += keys
        return self._client.mget(keys)


def test_key_expiring_between_type_and_get_is_not_found_not_invalid(
    server: RedisServer,
) -> None:
    """A key that was a hash at MGET, became a string, and expired before the value was
    read: it no longer exists — not found in a resolve, skipped by a scan — never an
    "invalid record: key holds a Redis string, not a string"."""
    client = server.client()
    key = "telemetry:payment:pym_flip"
    client.hset(key, "runId", "run_hash")
    settings = Settings.load(redis_url=with_user(server))
    vanishing = VanishingClient(connect(settings))
    reader = TelemetryReader(SingleStore(vanishing, settings, read_ahead=False), settings)
    original_fetch = SingleStore.fetch

    def fetch_then_flip(keys: list[str]) -> Any:
        out = original_fetch(reader.store, keys)
        client.delete(key)
        client.set(key, orjson.dumps({"runId": "run_string"}))
        return out

    reader.store.fetch = fetch_then_flip  # type: ignore[method-assign]
    resolution = resolve(reader, ["pym_flip"])
    assert vanishing.vanished
    assert [(r.status, r.detail) for r in resolution.results] == [
        (
            Status.NOT_FOUND,
            "no key telemetry:payment:pym_flip: never processed, or expired after the 14 d TTL",
        )
    ]

    client.delete(key)
    client.hset(key, "runId", "run_hash")
    reader.store.fetch = original_fetch.__get__(reader.store)  # type: ignore[method-assign]
    original_scan = SingleStore.scan_fetch

    def scan_then_flip(pattern: str, count: int, max_keys: int) -> Iterator[Any]:
        for step in original_scan(reader.store, pattern, count, max_keys):
            if step[0]:
                client.delete(key)
                client.set(key, orjson.dumps({"runId": "run_string"}))
            yield step

    reader.store.scan_fetch = scan_then_flip  # type: ignore[method-assign]
    summary = summarize(reader)
    assert (summary.scanned_keys, summary.records, summary.invalid_records) == (1, 0, 0)


# --------------------------------------------------------------------------- concurrency


@pytest.mark.slow
def test_twenty_concurrent_bulk_resolves_share_the_apps_cached_client(
    server: RedisServer,
) -> None:
    """20 threads each resolving 10,000 IDs at once through the app's cached reader (one
    client, one connection pool): every result is correct and complete — no reply lands
    on the wrong request."""
    stored = ids(10_000)
    seed(server.client(), stored, rich=True)
    settings = Settings.load(redis_url=with_user(server))
    context.READERS.clear()
    shared = context.app_context(settings).reader
    threads, results, errors = 20, {}, []
    barrier = threading.Barrier(threads)

    def work(n: int) -> None:
        try:
            reader = context.app_context(settings).reader
            assert reader is shared
            mine = ids(10_000, start=n * 500)  # 10,000 - n*500 of them exist
            barrier.wait(timeout=30)
            results[n] = (mine, resolve(reader, mine))
        except BaseException as exc:  # reported below, with the thread number
            errors.append((n, repr(exc)))

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    context.READERS.clear()
    assert not errors, errors
    assert len(results) == threads
    existing = set(stored)
    for n, (mine, resolution) in results.items():
        assert resolution.complete, (n, resolution.error)
        got = [(r.query, r.status, r.run_id, r.organization_id) for r in resolution.results]
        assert got == [
            (i, Status.FOUND, run_of(i), "org_f")
            if i in existing
            else (i, Status.NOT_FOUND, None, None)
            for i in mine
        ], n

"""Cases of issue 17: whole ``python -m telemetry`` processes against wire floors.

A wire floor is what a client can do with redis-py's own parts and nothing
of redis-py's per-command Python: commands packed by ``hiredis.pack_command``
(a PTTL is pre-packed bytes plus the key), written on one plain socket,
replies parsed by ``hiredis.Reader``, values decoded by ``orjson``.

- ``wire-summary``: SCAN COUNT 1000 of the namespace, each reply's keys read
  with MGET + a PTTL per key sent on the same write as the next SCAN;
  values decoded, nothing counted. Subject: ``python -m telemetry summary
  --since 24h`` (JSON on stdout), a whole process. Also reported (both wire
  cases): the same command run in this process (``cli.main``, imports done),
  its work without the start, and the process against the floor plus the
  stack's imports.
- ``wire-resolve``: the known-prefix IDs' keys in chunks of 1,000 (MGET + a
  PTTL per key, the next chunk written before this one's replies are read),
  and the ten ``CSV_HEADER`` columns written with ``csv.writer``: run URL,
  organization, processed time (the producer's, else inferred from the TTL)
  and expiry as ISO text. Subject: ``python -m telemetry resolve FILE``
  (CSV on stdout), a whole process.
- ``process-start``: ``python -m telemetry --help`` and a ``resolve`` of one
  ID, against a bare ``python -c pass``; measured, no target. Also reported:
  ``python -c "import pydantic_settings, redis"``, the stack's own start.

The floors run in this process (no interpreter start): the subjects pay
theirs, as the issue asks ("process start counts").
"""

from __future__ import annotations

import contextlib
import csv
import functools
import gc
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from telemetry.config import DEFAULT_TTL_SECONDS
from telemetry.models import CSV_HEADER

from .cases import CHUNK, _known_keys
from .harness import ROOT, Context, Row, Skip, interleave, median, register, timed

TARGET = 1.3
RUN_URL = "https://cloud.trigger.dev/runs/{run_id}"  # the default template's shape


def _hiredis() -> Any:
    try:
        import hiredis
    except ImportError:
        raise Skip("hiredis is not installed") from None
    return hiredis


class Wire:
    """One plain socket to the server, commands packed by hiredis, replies by its Reader."""

    def __init__(self, port: int) -> None:
        self.hiredis = _hiredis()
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = self.hiredis.Reader()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def replies(self, n: int) -> list[Any]:
        out: list[Any] = []
        gets, feed, recv = self.reader.gets, self.reader.feed, self.sock.recv
        while len(out) < n:
            reply = gets()
            if reply is False:
                feed(recv(1 << 20))
                continue
            out.append(reply)
        return out

    def close(self) -> None:
        self.sock.close()


def _pttl_packer() -> Callable[[list[bytes]], bytes]:
    """PTTL of each key: the command's head pre-packed, the key appended in RESP."""
    head = b"*2\r\n$4\r\nPTTL\r\n"

    def pack(keys: list[bytes]) -> bytes:
        return b"".join([head + b"$%d\r\n%s\r\n" % (len(key), key) for key in keys])

    return pack


def wire_scan_floor(port: int, pattern: str, count: int = CHUNK) -> int:
    """SCAN + MGET + PTTLs over one socket, the next SCAN on the same write; orjson."""
    wire = Wire(port)
    pack, pttls = wire.hiredis.pack_command, _pttl_packer()
    loads, bad = orjson.loads, orjson.JSONDecodeError
    cursor = b"0"
    pending: list[bytes] = []
    seen = 0
    scanning = True
    try:
        while scanning or pending:
            out = pack(("SCAN", cursor, "MATCH", pattern, "COUNT", count)) if scanning else b""
            if pending:
                out += pack(("MGET", *pending)) + pttls(pending)
            wire.send(out)
            n = (1 if scanning else 0) + (1 + len(pending) if pending else 0)
            replies = wire.replies(n)
            new: list[bytes] = []
            if scanning:
                cursor, new = replies[0]
                scanning = cursor != b"0"
                replies = replies[1:]
            if pending:
                seen += len(pending)
                for raw in replies[0]:
                    if raw is not None:
                        try:
                            loads(raw)
                        except bad:
                            continue
            pending = new
    finally:
        wire.close()
    return seen


def wire_resolve_floor(
    port: int, ids: list[str], keys: list[str], types: list[str], out: Any
) -> int:
    """Chunks of MGET + PTTLs (next chunk written ahead), the ten CSV columns written."""
    wire = Wire(port)
    pack, pttls = wire.hiredis.pack_command, _pttl_packer()
    loads, bad = orjson.loads, orjson.JSONDecodeError
    parts = RUN_URL.split("{run_id}")
    fromtimestamp = datetime.fromtimestamp
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    now = time.time()
    ttl = DEFAULT_TTL_SECONDS  # an inferred time is the expiry minus the TTL
    encoded = [key.encode() for key in keys]
    chunks = [encoded[i : i + CHUNK] for i in range(0, len(encoded), CHUNK)]

    def send(chunk: list[bytes]) -> None:
        wire.send(pack(("MGET", *chunk)) + pttls(chunk))

    found = 0
    try:
        if chunks:
            send(chunks[0])
        for index, chunk in enumerate(chunks):
            if index + 1 < len(chunks):
                send(chunks[index + 1])
            replies = wire.replies(1 + len(chunk))
            start = index * CHUNK
            rows = []
            for j, raw in enumerate(replies[0]):
                i = start + j
                if raw is None:
                    rows.append((ids[i], "not_found", "", "", "", "", "", "", "", ""))
                    continue
                try:
                    data = loads(raw)
                    if type(data) is not dict:
                        raise bad("not an object", "", 0)
                except bad:
                    rows.append(
                        (ids[i], "invalid_record", types[i], ids[i], "", "", "", "", "", "")
                    )
                    continue
                pttl = replies[1 + j]
                expires = now + pttl / 1000 if pttl >= 0 else None
                stamp = data.get("timestamp")
                if stamp is None and expires is not None:
                    stamp = fromtimestamp(expires - ttl, UTC).isoformat(timespec="milliseconds")
                run_id = data.get("runId")
                run_id = run_id if type(run_id) is str else ""
                rows.append(
                    (
                        ids[i],
                        "found",
                        types[i],
                        ids[i],
                        run_id,
                        run_id.join(parts) if run_id else "",
                        data.get("organizationId") or "",
                        stamp or "",
                        ""
                        if expires is None
                        else fromtimestamp(expires, UTC).isoformat(timespec="milliseconds"),
                        "",
                    )
                )
                found += 1
            writer.writerows(rows)
    finally:
        wire.close()
    return found


# -- subjects: whole processes ------------------------------------------------------


@contextlib.contextmanager
def _fresh_heap() -> Iterator[None]:
    """The in-process floors as a fresh process would run them: the runner's own objects
    (the seeded data, earlier cases' modules) frozen out of the collector, which would
    otherwise walk them in every full collection the floor's rows trigger (seen: the
    resolve floor 0.77 s as the first case, 1.36 s after the page cases)."""
    gc.collect()
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _bytecode() -> None:
    """Subjects start from bytecode, as installed code does (pip writes it, ``./run`` does
    for this checkout): where PYTHONDONTWRITEBYTECODE is set, each process would otherwise
    compile the package from source again (~0.1 s). Cheap when up to date."""
    import compileall

    compileall.compile_dir(ROOT / "telemetry", quiet=1)


def _env(ctx: Context, **extra: str) -> dict[str, str]:
    _bytecode()
    drop = ("REDIS_CLUSTER", "TRIGGER_SECRET_KEY", "TRIGGER_API_URL", "DEMO_MODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["REDIS_URL"] = ctx.url
    env["SCAN_MAX_KEYS"] = str(max(2 * ctx.size.keys, 1_000_000))
    env["REDIS_SOCKET_TIMEOUT"] = "60"
    env.update(extra)
    return env


def _process(argv: list[str], env: dict[str, str]) -> Callable[[], None]:
    def run() -> None:
        proc = subprocess.run(
            [sys.executable, *argv],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=600,
            check=False,
        )
        if proc.returncode not in (0,):
            raise RuntimeError(
                f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-2000:]!r}"
            )

    return run


def _capture(argv: list[str], env: dict[str, str]) -> str:
    proc = subprocess.run(
        [sys.executable, *argv],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {proc.stderr[-2000:]}")
    return proc.stdout


def _row(case: str, size: str, floors: list[float], subjects: list[float], note: str) -> Row:
    ratio = median(subjects) / median(floors)
    return Row(
        case=case,
        size=size,
        target=f"≤ {TARGET}×",
        floor=median(floors),
        subject=median(subjects),
        ratio=ratio,
        met=ratio <= TARGET,
        note=note,
        floor_samples=floors,
        subject_samples=subjects,
    )


@register(
    "wire-summary", "summary --since 24h as a process vs SCAN+MGET+PTTL on the wire", heavy=True
)
def wire_summary(ctx: Context) -> Row:
    from telemetry.keys import scan_pattern

    pattern = scan_pattern(ctx.settings().telemetry_namespace)
    env = _env(ctx)
    argv = ["-m", "telemetry", "summary", "--since", "24h", "--format", "json"]
    report = orjson.loads(_capture(argv, env))
    seen = wire_scan_floor(ctx.server.port, pattern)
    scanned = report.get("scanned_keys", seen)
    if abs(scanned - seen) > 0.001 * ctx.size.keys:
        raise RuntimeError(f"summary scanned {scanned:,} keys, the wire floor {seen:,}")
    with open(os.devnull, "w") as sink:
        floor = functools.partial(wire_scan_floor, ctx.server.port, pattern)
        floors, subjects, note = _against_floor(floor, argv, env, sink, ctx.runs_for(heavy=True))
    return _row("wire-summary", f"{seen:,} keys", floors, subjects, note)


@register("wire-resolve", "resolve FILE as a process vs MGET+PTTL on the wire + CSV")
def wire_resolve(ctx: Context) -> Row:
    ids = ctx.data.known_ids[: ctx.size.known_ids]
    keys = _known_keys(ctx, ids)
    namespace = ctx.settings().telemetry_namespace
    types = [key[len(namespace) + 1 :].split(":", 1)[0] for key in keys]
    with tempfile.TemporaryDirectory() as tmp:
        paste = Path(tmp) / "ids.txt"
        paste.write_text(ctx.pasted(ids))
        env = _env(ctx)
        argv = ["-m", "telemetry", "resolve", str(paste)]
        lines = _capture(argv, env).count("\n")
        if lines < len(ids) + 1:
            raise RuntimeError(f"resolve wrote {lines} lines for {len(ids)} IDs")
        with open(os.devnull, "w") as sink:
            floor = functools.partial(wire_resolve_floor, ctx.server.port, ids, keys, types, sink)
            found = floor()
            floors, subjects, note = _against_floor(floor, argv, env, sink, ctx.runs_for())
    return _row("wire-resolve", f"{len(ids):,} IDs", floors, subjects, f"{found:,} found; {note}")


# What the stack alone costs before any of ours runs: the config and client libraries.
_STACK_IMPORTS = ["-c", "import pydantic_settings, redis"]


def _stack_start(env: dict[str, str], runs: int) -> float:
    """Median seconds of a process that only imports the stack's libraries."""
    start = _process(_STACK_IMPORTS, env)
    return median([timed(start)[0] for _ in range(max(runs, 3))])


def _against_floor(
    floor: Callable[[], Any], argv: list[str], env: dict[str, str], sink: Any, runs: int
) -> tuple[list[float], list[float], str]:
    """The process ``python ARGV`` against ``floor`` (interleaved pairs), and a note that
    tells its start from its work: the same command in this process against the floor
    (pairs of their own), and the process against the floor plus the stack's imports."""
    in_process = _in_process(argv[2:], env, sink)
    in_process()  # its imports, as the process pays them, are out of its timings
    with _fresh_heap():
        floors, subjects = interleave(floor, _process(argv, env), runs, warmup=False)
        work_floors, inside = interleave(floor, in_process, runs, warmup=False)
    start = _stack_start(env, runs)
    floor_s, work_s = median(floors), median(inside)
    return (
        floors,
        subjects,
        "whole process vs in-process floor; "
        f"the command in process (no start): {work_s * 1000:.0f} ms, "
        f"{work_s / median(work_floors):.2f}×; "
        f"the process vs the floor + the stack's imports ({start * 1000:.0f} ms): "
        f"{median(subjects) / (floor_s + start):.2f}×",
    )


def _in_process(argv: list[str], env: dict[str, str], sink: Any) -> Callable[[], None]:
    """``python -m telemetry ARGV`` run by ``telemetry.cli.main`` in this process, stdout
    to ``sink``: the command's own work, without the interpreter and imports it starts
    with (what separates the start from the work in the subject's time)."""
    from unittest import mock

    from telemetry.cli import main

    def run() -> None:
        with mock.patch.dict(os.environ, env, clear=True), contextlib.redirect_stdout(sink):
            code = main(argv)
        if code != 0:
            raise RuntimeError(f"telemetry {' '.join(argv)} returned {code} in process")

    return run


@register("process-start", "python -m telemetry --help and resolve of 1 ID vs python -c pass")
def process_start(ctx: Context) -> Row:
    env = _env(ctx)
    one = ctx.data.known_ids[0]
    bare = _process(["-c", "pass"], env)
    helps = _process(["-m", "telemetry", "--help"], env)
    with tempfile.TemporaryDirectory() as tmp:
        paste = Path(tmp) / "one.txt"
        paste.write_text(one + "\n")
        resolve_one = _process(["-m", "telemetry", "resolve", str(paste)], env)
        runs = max(ctx.runs_for(), 5)
        floors, subjects = interleave(bare, resolve_one, runs)
        helps_s = [timed(helps)[0] for _ in range(runs)]
        libraries = _stack_start(env, runs)
    return Row(
        case="process-start",
        size="1 ID",
        target="measured",
        floor=median(floors),
        subject=median(subjects),
        ratio=median(subjects) / median(floors),
        met=None,
        note=(
            f"floor = python -c pass; --help {median(helps_s) * 1000:.0f} ms; "
            f"python -c 'import pydantic_settings, redis' {libraries * 1000:.0f} ms"
        ),
        floor_samples=floors,
        subject_samples=subjects,
    )

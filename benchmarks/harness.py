"""What every case shares: sizes, the registry, timing, the server and its data, the table."""

from __future__ import annotations

import gc
import importlib
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"

# Modules that register cases when imported, in the order their rows print.
# A module that fails to import (e.g. a case whose dependencies are not
# installed) is reported as a skipped row, never a crash of the runner.
CASE_MODULES = (
    "benchmarks.cases",
    "benchmarks.app_cases",
    "benchmarks.cluster_cases",
    "benchmarks.runs_cases",
    "benchmarks.wire_cases",
    "benchmarks.rows_cases",
    "benchmarks.browser_cases",
)


# -- sizes -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Size:
    name: str
    keys: int  # records seeded (the summary's keyspace)
    known_ids: int  # case "resolve": pasted IDs with known prefixes
    naive_ids: int  # case "resolve-vs-naive"
    unknown_ids: int  # case "resolve-unknown-prefix"
    bulk_page_ids: int  # case "page-bulk"
    runs: int  # default pairs of (floor, subject) timings per case
    summary_runs: int  # pairs for the slow summary cases


SIZES: dict[str, Size] = {
    "smoke": Size("smoke", 20_000, 2_000, 2_000, 200, 2_000, runs=1, summary_runs=1),
    "full": Size("full", 1_000_000, 100_000, 10_000, 2_000, 10_000, runs=5, summary_runs=3),
}


# -- rows ------------------------------------------------------------------------


@dataclass(slots=True)
class Row:
    """One line of the results table.

    ``ratio`` is ``subject / floor`` unless the case says otherwise in
    ``ratio_text`` (e.g. "35× faster"); ``met`` is None when not measured.
    """

    case: str
    size: str
    target: str
    floor: float | None = None
    subject: float | None = None
    unit: str = "s"
    ratio: float | None = None
    ratio_text: str = ""
    met: bool | None = None
    note: str = ""
    error: bool = False  # the case crashed; ``note`` says how
    floor_samples: list[float] = field(default_factory=list)
    subject_samples: list[float] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.met is None and self.subject is None

    def cells(self) -> list[str]:
        if self.error:
            return [self.case, self.size, "—", "—", "—", self.target, f"ERROR: {self.note}"]
        if self.skipped:
            return [self.case, self.size, "—", "—", "—", self.target, f"skipped: {self.note}"]
        ratio = self.ratio_text or (f"{self.ratio:.2f}×" if self.ratio is not None else "—")
        met = {True: "yes", False: "NO", None: "—"}[self.met]
        if self.note:
            met = f"{met} ({self.note})"
        return [
            self.case,
            self.size,
            _value(self.floor, self.unit),
            _value(self.subject, self.unit),
            ratio,
            self.target,
            met,
        ]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


HEADER = ["case", "size", "floor (median)", "subject (median)", "ratio", "target", "met?"]


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "s":
        return f"{value * 1000:,.1f} ms" if value < 1 else f"{value:,.2f} s"
    if unit == "µs":
        return f"{value:,.1f} µs"
    return f"{value:,.0f} {unit}"


def markdown_table(rows: Iterable[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


class Skip(Exception):
    """Raised by a case that cannot run here; the row says why."""


# -- registry --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    title: str
    func: Callable[[Context], Row]
    heavy: bool = False  # needs the whole keyspace scanned; listed for --only help


REGISTRY: dict[str, Case] = {}


def register(name: str, title: str, *, heavy: bool = False) -> Callable[..., Any]:
    """Decorator: ``@register("summary", "what it measures")`` on ``def case(ctx) -> Row``."""

    def wrap(func: Callable[[Context], Row]) -> Callable[[Context], Row]:
        if name in REGISTRY:
            raise ValueError(f"benchmark case {name!r} is registered twice")
        REGISTRY[name] = Case(name, title, func, heavy)
        return func

    return wrap


def load_cases() -> dict[str, str]:
    """Import every case module; returns ``{module: why it did not import}`` for failures."""
    failed: dict[str, str] = {}
    for module in CASE_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                continue  # not written (yet): nothing to report
            failed[module] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            failed[module] = f"{type(exc).__name__}: {exc}"
    return failed


# -- timing ----------------------------------------------------------------------


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    gc.collect()
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def interleave(
    floor: Callable[[], Any],
    subject: Callable[[], Any],
    runs: int,
    *,
    warmup: bool = True,
) -> tuple[list[float], list[float]]:
    """``runs`` timings of each, alternating (F S, S F, F S, ...) so drift hits both alike."""
    if warmup:
        floor()
        subject()
    floors: list[float] = []
    subjects: list[float] = []
    for i in range(runs):
        order = ((floors, floor), (subjects, subject))
        for samples, func in order if i % 2 == 0 else order[::-1]:
            samples.append(timed(func)[0])
    return floors, subjects


def median(samples: list[float]) -> float:
    return statistics.median(samples)


# -- the server and its data -----------------------------------------------------


def _import_redis_server() -> Any:
    if str(TESTS) not in sys.path:
        sys.path.insert(0, str(TESTS))
    import redis_server

    return redis_server


@dataclass(slots=True)
class Dataset:
    """What was seeded, and the IDs the cases paste."""

    keys: int = 0
    known_ids: list[str] = field(default_factory=list)  # IDs of types with known prefixes
    unknown_ids: list[str] = field(default_factory=list)  # IDs no prefix matches
    lookup_ids: list[str] = field(default_factory=list)  # valid records, for the Lookup page
    seconds: float = 0.0
    method: str = ""


def _resp(*parts: bytes) -> bytes:
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        out.append(b"$%d\r\n%s\r\n" % (len(part), part))
    return b"".join(out)


def _record_resp(record: Any) -> bytes:
    key = record.key.encode()
    ttl = str(record.ttl_seconds).encode()
    if record.kind == "hash":  # what write_records does for a wrong-type key
        return (
            _resp(b"DEL", key)
            + _resp(b"HSET", key, b"runId", b"run_in_a_hash")
            + _resp(b"EXPIRE", key, ttl)
        )
    if record.kind == "list":
        return _resp(b"DEL", key) + _resp(b"RPUSH", key, record.value) + _resp(b"EXPIRE", key, ttl)
    return _resp(b"SET", key, record.value, b"EX", ttl)


def seed(
    port: int,
    client: Any,
    size: Size,
    *,
    seed_value: int = 5,
    log: Callable[[str], None] = print,
) -> Dataset:
    """Write ``size.keys`` generated records and pick the IDs the cases paste.

    The generator's records stream into ``redis-cli --pipe`` (RESP written
    here, parsed by redis-cli and the server on the other core), which is ~4×
    faster than ``write_records``' pipelines; the generator itself (~40 µs a
    record) is the remaining cost. Without redis-cli, ``write_records``.
    """
    from telemetry.registry import DEFAULT_ENTITY_TYPES
    from telemetry.writer import generate_records, write_records

    data = Dataset(keys=size.keys)
    want_known = max(size.known_ids, size.naive_ids, size.bulk_page_ids)
    lookups = 50

    def pick(records: Iterable[Any]) -> Iterator[Any]:
        for record in records:
            if DEFAULT_ENTITY_TYPES.get(record.entity_type):
                if len(data.known_ids) < want_known:
                    data.known_ids.append(record.entity_id)
                if record.valid and len(data.lookup_ids) < lookups:
                    data.lookup_ids.append(record.entity_id)
            elif len(data.unknown_ids) < size.unknown_ids:
                data.unknown_ids.append(record.entity_id)
            yield record

    start = time.perf_counter()
    records = pick(generate_records(size.keys, seed=seed_value))
    cli = shutil.which("redis-cli")
    if cli is None:
        data.method = "write_records (pipelines of 1,000)"
        write_records(client, records)
    else:
        data.method = "redis-cli --pipe"
        proc = subprocess.Popen(
            [cli, "-h", "127.0.0.1", "-p", str(port), "--pipe"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        assert proc.stdin is not None and proc.stdout is not None
        buffer: list[bytes] = []
        for record in records:
            buffer.append(_record_resp(record))
            if len(buffer) >= 5_000:
                proc.stdin.write(b"".join(buffer))
                buffer.clear()
        proc.stdin.write(b"".join(buffer))
        proc.stdin.close()
        output = proc.stdout.read().decode(errors="replace")
        if proc.wait() != 0 or "errors: 0," not in output:
            raise RuntimeError(f"redis-cli --pipe failed:\n{output[-2000:]}")
    data.seconds = time.perf_counter() - start
    stored = client.dbsize()
    if stored != size.keys:
        raise RuntimeError(f"seeded {size.keys:,} records but the server holds {stored:,} keys")
    if len(data.known_ids) < want_known or len(data.unknown_ids) < size.unknown_ids:
        raise RuntimeError("the generated data has too few IDs for the cases; raise --size")
    log(f"seeded {size.keys:,} records in {data.seconds:.1f} s ({data.method})")
    return data


# -- context ---------------------------------------------------------------------


@dataclass
class Context:
    """What a case gets: the size, the server, the data, and helpers."""

    size: Size
    runs: int | None  # --runs, overriding the size's defaults
    server: Any  # tests/redis_server.RedisServer
    data: Dataset
    log: Callable[[str], None] = print
    memo: dict[str, Any] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def runs_for(self, *, heavy: bool = False) -> int:
        if self.runs is not None:
            return self.runs
        return self.size.summary_runs if heavy else self.size.runs

    def client(self, **kwargs: Any) -> Any:
        """A plain redis-py client (hiredis parses when installed), bytes in and out."""
        kwargs.setdefault("socket_timeout", 60.0)
        return self.server.client(**kwargs)

    def settings(self, **overrides: Any) -> Any:
        from telemetry.config import Settings

        overrides.setdefault("redis_url", self.url)
        overrides.setdefault("redis_socket_timeout", 60.0)
        # The whole keyspace, never the product's cap: the floor scans it all too.
        overrides.setdefault("scan_max_keys", max(2 * self.size.keys, 1_000_000))
        return Settings.load(None, **overrides)

    def reader(self, **overrides: Any) -> Any:
        """A ``TelemetryReader`` on a client made the way the app makes it (``store.connect``)."""
        from telemetry.reader import TelemetryReader
        from telemetry.store import connect

        settings = self.settings(**overrides)
        return TelemetryReader(connect(settings), settings)

    def pasted(self, ids: list[str]) -> str:
        """IDs as a user pastes a spreadsheet column: one per line."""
        return "\n".join(ids) + "\n"


@contextmanager
def bench_server(log: Callable[[str], None] = print) -> Iterator[Any]:
    module = _import_redis_server()
    server = module.RedisServer()
    log(f"redis-server on {server.url} (--save '' --appendonly no)")
    try:
        yield server
    finally:
        server.close()


# -- machine ---------------------------------------------------------------------


def machine(server: Any | None = None) -> dict[str, str]:
    """What the numbers were measured on."""
    info: dict[str, str] = {}
    info["nproc"] = str(os.cpu_count() or "?")
    with suppress(OSError, subprocess.CalledProcessError):
        info["nproc"] = subprocess.run(
            ["nproc"], capture_output=True, text=True, check=True
        ).stdout.strip()
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor() or "?"
    info["cpu"] = cpu
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["memory"] = f"{int(line.split()[1]) // 1024:,} MB"
    except OSError:
        pass
    with suppress(OSError):
        info["load average"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["os"] = f"{platform.system()} {platform.release()} {platform.machine()}"
    info["python"] = platform.python_version()
    for name in ("redis", "hiredis", "orjson", "pydantic", "streamlit"):
        try:
            module = importlib.import_module(name)
            info[name] = str(getattr(module, "__version__", "?"))
        except Exception:
            info[name] = "not installed"
    if server is not None:
        try:
            version = server.client().info("server")["redis_version"]
            info["redis-server"] = str(version)
        except Exception:
            info["redis-server"] = "?"
    return info

"""A local stand-in of trigger.dev's management API (TRIGGER_API.md §7), for tests and demo mode.

Written from TRIGGER_API.md, not from the client, so it checks the client
independently. Two ways to serve it: ``start()`` runs a ``ThreadingHTTPServer``
on 127.0.0.1 in a background thread (tests: real sockets, real timeouts);
``transport()`` answers in-process as an ``httpx.MockTransport`` (demo mode: no
port, no thread). It serves

- ``GET /api/v3/runs/{runId}`` (§2): the run object; an unknown run is ``404``
  ``{"error": "Not found"}`` with ``x-should-retry: true``;
- ``GET /api/v1/runs`` (§4): newest first, the filters, the 7-day default
  window, ``page[size]`` 1–100 and opaque cursors (``page[after]`` /
  ``page[before]``; a before-page comes back oldest first);

behind a bearer-key check (``401``), the version header (§1, §3) and a token
bucket per presented key (§5: ``x-ratelimit-*`` headers on every response,
``429`` ``application/problem+json`` over the budget).

Order of handling, for every request: record it, sleep ``slow`` seconds, take a
token (``429`` when none is left), then the switches ``fail_5xx`` and
``malformed``, then the key check, then the route. So a switched failure still
carries the rate-limit headers and costs a token; a ``401`` does too (the bucket
belongs to whatever bearer value was presented, "" when none).

Usage::

    with TriggerStandIn([make_run("run_abc", status="FAILED")]) as api:
        api.url, api.key  # base URL and the secret key it accepts
        api.fail_5xx = 2  # the next two requests answer 500 then 502
        api.count("/api/v3/runs/")  # requests seen under that path
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import httpx

API_VERSION = "2025-07-16"

# §3, with the version header.
STATUSES = (
    "PENDING_VERSION",
    "QUEUED",
    "DEQUEUED",
    "EXECUTING",
    "WAITING",
    "DELAYED",
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "SYSTEM_FAILURE",
    "EXPIRED",
    "TIMED_OUT",
)

# §3, without the header: the legacy set adds WAITING_FOR_DEPLOY, REATTEMPTING,
# FROZEN and INTERRUPTED and lacks DEQUEUED and WAITING. The stand-in stores
# current statuses and, for a request without the header, renames the two the
# legacy set lacks: DEQUEUED (taken off the queue to run) → EXECUTING, WAITING
# (suspended on a wait) → FROZEN, the legacy name of a checkpointed, waiting run.
# Every other status is the same in both sets and passes unchanged.
LEGACY_STATUSES = (
    "WAITING_FOR_DEPLOY",
    "PENDING_VERSION",
    "QUEUED",
    "EXECUTING",
    "REATTEMPTING",
    "FROZEN",
    "DELAYED",
    "COMPLETED",
    "CANCELED",
    "FAILED",
    "CRASHED",
    "INTERRUPTED",
    "SYSTEM_FAILURE",
    "EXPIRED",
    "TIMED_OUT",
)
LEGACY_STATUS = {"DEQUEUED": "EXECUTING", "WAITING": "FROZEN"}

_QUEUED = {"PENDING_VERSION", "QUEUED", "DELAYED"}
_EXECUTING = {"DEQUEUED", "EXECUTING"}
_FINISHED = {"COMPLETED", "CANCELED", "FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"}
_FAILED = {"FAILED", "CRASHED", "SYSTEM_FAILURE", "EXPIRED", "TIMED_OUT"}
_NOT_STARTED = _QUEUED | {"EXPIRED"}

# Fields of a retrieved run (§2) that a list item (§4) leaves out.
LIST_OMITS = frozenset(
    {
        "payload",
        "payloadPresignedUrl",
        "output",
        "outputPresignedUrl",
        "error",
        "relatedRuns",
        "attemptCount",
        "attempts",
        "schedule",
    }
)

DEFAULT_WINDOW = timedelta(days=7)
_PERIOD = re.compile(r"^(\d+)([smhdw])$")
_PERIOD_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def iso(moment: datetime) -> str:
    """``2026-11-20T10:15:00.000Z``: ISO 8601 in UTC with milliseconds, as the API writes."""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_iso(text: str) -> datetime:
    """The inverse of :func:`iso` (any ISO 8601 with an offset or ``Z``)."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _stable(run_id: str, modulo: int) -> int:
    """A number in ``range(modulo)`` that depends only on ``run_id`` (realistic, reproducible)."""
    return int.from_bytes(hashlib.sha256(run_id.encode()).digest()[:4], "big") % modulo


def make_run(
    run_id: str,
    *,
    status: str = "COMPLETED",
    task: str = "attempt-billing-run",
    created_at: datetime | None = None,
    started_at: datetime | None = None,
    finished_at: datetime | None = None,
    duration_ms: int | None = None,
    attempt_count: int = 1,
    is_test: bool = False,
    tags: Iterable[str] = (),
    error: dict[str, Any] | None = None,
    root: str | None = None,
    parent: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A realistic run object as ``GET /api/v3/runs/{id}`` returns it (§2), current statuses.

    Unset times follow from the status: a run that started did so ~1 s after it
    was created; a finished one ended ``duration_ms`` (plus a little overhead)
    later. ``error`` is included only when given. ``payload`` and ``output``
    are present (customer-like data) so tests can see whether a client asks for
    them. ``extra`` entries (API field names, e.g. ``metadata=…``,
    ``costInCents=…``) are set last and override anything.
    """
    created = (created_at or datetime.now(UTC) - timedelta(hours=1)).astimezone(UTC)
    started_run = status not in _NOT_STARTED
    if duration_ms is None:
        duration_ms = 400 + _stable(run_id, 30_000) if started_run else 0
    if started_at is None and started_run:
        started_at = created + timedelta(milliseconds=800 + _stable(run_id + "s", 1500))
    if finished_at is None and status in _FINISHED:
        begun = started_at or created
        finished_at = begun + timedelta(milliseconds=duration_ms + 150)
    updated = finished_at or started_at or created
    cost = round(duration_ms * 0.0000338, 6)
    run: dict[str, Any] = {
        "id": run_id,
        "status": status,
        "taskIdentifier": task,
        "idempotencyKey": f"{task}:{_stable(run_id, 10**8):08d}",
        "version": f"20261120.{1 + _stable(run_id, 9)}",
        "region": "us-east-1",
        "taskKind": "STANDARD",
        "isQueued": status in _QUEUED,
        "isExecuting": status in _EXECUTING,
        "isWaiting": status == "WAITING",
        # §2: isCompleted is false for EXPIRED and TIMED_OUT.
        "isCompleted": status in _FINISHED - {"EXPIRED", "TIMED_OUT"},
        "isSuccess": status == "COMPLETED",
        "isFailed": status in _FAILED,
        "isCancelled": status == "CANCELED",
        "isTest": is_test,
        "createdAt": iso(created),
        "updatedAt": iso(updated),
        "tags": list(tags),
        "costInCents": cost,
        "baseCostInCents": 0.0025,
        "durationMs": duration_ms,
        "metadata": {},
        "depth": 2 if parent and root and parent != root else (1 if parent or root else 0),
        "triggerFunction": "triggerAndWait" if parent else "trigger",
        "payload": {"customerEmail": "ada@example.com", "amount": 4200, "currency": "usd"},
        "relatedRuns": {"children": []},
        "attemptCount": attempt_count,
        "attempts": [],
    }
    if started_at is not None:
        run["startedAt"] = iso(started_at)
    if finished_at is not None:
        run["finishedAt"] = iso(finished_at)
    if status == "DELAYED":
        run["delayedUntil"] = iso(created + timedelta(minutes=10))
    if status == "EXPIRED":
        run["ttl"] = "10m"
        run["expiredAt"] = iso(created + timedelta(minutes=10))
    if status == "COMPLETED":
        run["output"] = {"ok": True, "chargedCents": 4200, "cardLast4": "4242"}
    if error is not None:
        run["error"] = dict(error)
    for name, related in (("root", root), ("parent", parent)):
        if related is not None:
            run["relatedRuns"][name] = _related(related, task, created)
    run.update(extra)
    return run


def _related(run_id: str, task: str, created: datetime) -> dict[str, Any]:
    """A related run as ``relatedRuns`` carries it: a run object without payload or output."""
    other = make_run(
        run_id, status="EXECUTING", task=task, created_at=created - timedelta(seconds=5)
    )
    for name in ("payload", "output", "relatedRuns", "attempts"):
        other.pop(name, None)
    return other


@dataclass
class Request:
    """One request the stand-in saw, and the status it answered."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    status: int = 0


@dataclass
class _Bucket:
    tokens: int
    anchor: float  # clock time of the last refill


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class _BadRequest(Exception):
    """A query the API refuses with ``400``."""


class TriggerStandIn:
    """trigger.dev's management API on ``127.0.0.1:<free port>``, for tests and demo mode.

    ``clock`` gives Unix seconds (``time.time``): the token bucket refills by it
    and ``x-ratelimit-reset`` is read off it, so a test can share a virtual
    clock with the client and never sleep.
    """

    def __init__(
        self,
        runs: Iterable[dict[str, Any]] = (),
        *,
        key: str = "tr_dev_standin",
        burst: int = 750,
        refill: int = 250,
        refill_seconds: float = 10.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.key = key
        self.burst = burst
        self.refill = refill
        self.refill_seconds = refill_seconds
        self.clock = clock
        self.slow = 0.0
        self.fail_5xx = 0
        self.malformed = 0
        self.requests: list[Request] = []
        self.most_at_once = 0  # the most requests it was answering at the same time
        self._connections: set[socket.socket] = set()
        self._active = 0
        self.url = ""
        self.env = {"id": "env_" + hashlib.sha256(key.encode()).hexdigest()[:20], "name": _env(key)}
        self._runs: dict[str, dict[str, Any]] = {}
        self._order: dict[str, int] = {}  # run ID → internal sequence number (cursor material)
        self._seq = 0
        # Newest-first index for listing, built lazily (None: stale after add()).
        self._sorted: tuple[list[tuple[int, int]], list[str], dict[int, int]] | None = None
        self._salt = secrets.token_hex(4)
        self._buckets: dict[str, _Bucket] = {}
        self._failures = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.add(*runs)

    # -- data -------------------------------------------------------------------------------

    def add(self, *runs: dict[str, Any]) -> None:
        """Serve these runs too (a run with a known ID replaces the old one)."""
        with self._lock:
            for run in runs:
                if run["id"] not in self._order:
                    self._seq += 1
                    self._order[run["id"]] = self._seq
                self._runs[run["id"]] = dict(run)
            self._sorted = None

    def count(self, path_prefix: str = "") -> int:
        """How many requests were seen whose path starts with ``path_prefix``."""
        with self._lock:
            return sum(1 for seen in self.requests if seen.path.startswith(path_prefix))

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> TriggerStandIn:
        """Listen on a free port of 127.0.0.1 and serve from a daemon thread."""
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body are two writes: with Nagle's algorithm a keep-alive
            # client waited ~40 ms (delayed ACK) for every answer.
            disable_nagle_algorithm = True

            def do_GET(self) -> None:
                standin._handle(self)

            do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: tests read ``requests`` instead."""

            def setup(self) -> None:
                super().setup()
                with standin._lock:
                    standin._connections.add(self.connection)

            def finish(self) -> None:
                with standin._lock:
                    standin._connections.discard(self.connection)
                super().finish()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            # A short poll interval: stop() waits at most that long for the loop to notice.
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="trigger-standin",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and drop every open connection, as a server that went away does
        (a client's pooled keep-alive connection would otherwise still be answered);
        requests still sleeping in ``slow`` are abandoned."""
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> TriggerStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- one request ------------------------------------------------------------------------

    def transport(self) -> httpx.MockTransport:
        """This stand-in as an in-process ``httpx`` transport (no server needed)."""

        def handle(request: httpx.Request) -> httpx.Response:
            seen = Request(
                method=request.method,
                path=unquote(request.url.path),
                query=parse_qs(request.url.query.decode("ascii"), keep_blank_values=True),
                headers={name.lower(): value for name, value in request.headers.items()},
            )
            answer = self._serve(seen)
            return httpx.Response(answer.status, headers=answer.headers, content=answer.body)

        return httpx.MockTransport(handle)

    def _serve(self, seen: Request) -> _Answer:
        """Record the request, sleep ``slow``, answer it."""
        with self._lock:
            self.requests.append(seen)
            slow = self.slow
            self._active += 1
            self.most_at_once = max(self.most_at_once, self._active)
        try:
            if slow > 0:
                time.sleep(slow)
            answer = self._answer(seen)
        finally:
            with self._lock:
                self._active -= 1
        with self._lock:
            seen.status = answer.status
        return answer

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        parts = urlsplit(handler.path)
        seen = Request(
            method=handler.command,
            path=unquote(parts.path),
            query=parse_qs(parts.query, keep_blank_values=True),
            headers={name.lower(): value for name, value in handler.headers.items()},
        )
        if handler.command in ("POST", "PUT", "PATCH"):
            length = int(handler.headers.get("content-length") or 0)
            handler.rfile.read(length)
        answer = self._serve(seen)
        try:
            handler.send_response(answer.status)
            for name, value in answer.headers.items():
                handler.send_header(name, value)
            handler.send_header("content-length", str(len(answer.body)))
            handler.end_headers()
            handler.wfile.write(answer.body)
        except OSError:  # the client gave up (e.g. timed out on ``slow``): nobody to answer
            handler.close_connection = True

    def _answer(self, seen: Request) -> _Answer:
        bearer = seen.headers.get("authorization", "")
        allowed, limits = self._take_token(bearer)
        if not allowed:
            return self._too_many(limits)
        with self._lock:
            fail, self.fail_5xx = self.fail_5xx > 0, max(0, self.fail_5xx - 1)
            broken = False
            if not fail:
                broken, self.malformed = self.malformed > 0, max(0, self.malformed - 1)
            if fail:
                self._failures += 1
                failures = self._failures
        if fail:
            status = (500, 502, 503)[(failures - 1) % 3]
            text = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
            return _json(status, {"error": text[status]}, limits)
        if broken:
            body = b'{"id": "run_cut_off_mid'  # 200 and not JSON: a truncated body
            return _Answer(200, body, {"content-type": "application/json", **limits})
        scheme, _, token = bearer.partition(" ")
        if scheme.lower() != "bearer" or not token or token.strip() != self.key:
            message = "Invalid or Missing API key" if token else "Missing API key"
            return _json(401, {"error": message}, limits)
        current = seen.headers.get("x-trigger-api-version") == API_VERSION
        if seen.method != "GET":
            return _json(405, {"error": "Method not allowed"}, limits)
        try:
            if seen.path == "/api/v1/runs":
                return _json(200, self._list(seen.query, current), limits)
            if seen.path.startswith("/api/v3/runs/") and seen.path.count("/") == 4:
                return self._retrieve(seen.path.rsplit("/", 1)[1], current, limits)
        except _BadRequest as problem:
            return _json(400, {"error": str(problem)}, limits)
        return _json(404, {"error": "Not found"}, limits)

    # -- rate limit (§5) --------------------------------------------------------------------

    def _take_token(self, bucket_key: str) -> tuple[bool, dict[str, str]]:
        with self._lock:
            now = self.clock()
            bucket = self._buckets.get(bucket_key)
            if bucket is None:
                bucket = self._buckets[bucket_key] = _Bucket(self.burst, now)
            refills = int((now - bucket.anchor) // self.refill_seconds)
            if refills > 0:
                bucket.tokens = min(self.burst, bucket.tokens + refills * self.refill)
                bucket.anchor += refills * self.refill_seconds
            allowed = bucket.tokens > 0
            if allowed:
                bucket.tokens -= 1
            # The reset is read off the stand-in's own clock (Unix seconds), so a test's
            # virtual clock shared with the client agrees with it to the millisecond.
            reset_ms = int((bucket.anchor + self.refill_seconds) * 1000)
            return allowed, {
                "x-ratelimit-limit": str(self.burst),
                "x-ratelimit-remaining": str(bucket.tokens),
                "x-ratelimit-reset": str(reset_ms),
            }

    def _too_many(self, limits: dict[str, str]) -> _Answer:
        reset_ms = int(limits["x-ratelimit-reset"])
        seconds = max(0, round((reset_ms - self.clock() * 1000) / 1000))
        detail = (
            f"Rate limit exceeded 0/{self.burst} requests remaining. Retry in {seconds} seconds."
        )
        body = {
            "title": "Rate Limit Exceeded",
            "status": 429,
            "type": "https://trigger.dev/docs/limits#rate-limits",
            "detail": detail,
            "reset": reset_ms,
            "limit": self.burst,
            "remaining": 0,
            "secondsUntilReset": seconds,
            "error": detail,
        }
        answer = _json(429, body, limits)
        answer.headers["content-type"] = "application/problem+json"
        return answer

    # -- retrieve (§2) ----------------------------------------------------------------------

    def _retrieve(self, run_id: str, current: bool, limits: dict[str, str]) -> _Answer:
        with self._lock:
            run = self._runs.get(run_id)
        if run is None:
            answer = _json(404, {"error": "Not found"}, limits)
            answer.headers["x-should-retry"] = "true"
            return answer
        return _json(200, _versioned(run, current), limits)

    # -- list (§4) --------------------------------------------------------------------------

    def _list(self, query: dict[str, list[str]], current: bool) -> dict[str, Any]:
        def one(name: str) -> str | None:
            values = query.get(name)
            return values[-1] if values else None

        def many(name: str) -> set[str] | None:
            text = one(name)
            if text is None:
                return None
            return {item.strip() for item in text.split(",") if item.strip()}

        size_text = one("page[size]")
        try:
            size = 25 if size_text is None else int(size_text)
        except ValueError:
            raise _BadRequest(f"page[size] must be a whole number, got {size_text!r}") from None
        if not 1 <= size <= 100:
            raise _BadRequest(f"page[size] must be between 1 and 100, got {size}")

        statuses = many("filter[status]")
        if statuses is not None:
            unknown = sorted(statuses - set(STATUSES) - set(LEGACY_STATUSES))
            if unknown:
                raise _BadRequest(f"Invalid status values: {', '.join(unknown)}")
        tasks = many("filter[taskIdentifier]")
        tags = many("filter[tag]")
        versions = many("filter[version]")
        is_test: bool | None = None
        test_text = one("filter[isTest]")
        if test_text is not None:
            if test_text not in ("true", "false"):
                raise _BadRequest(f"filter[isTest] must be true or false, got {test_text!r}")
            is_test = test_text == "true"
        start, end = _window(
            one("filter[createdAt][from]"),
            one("filter[createdAt][to]"),
            one("filter[createdAt][period]"),
        )

        after, before = one("page[after]"), one("page[before]")
        if after is not None and before is not None:
            raise _BadRequest("Use page[after] or page[before], not both")
        keys, ids, where = self._index()
        # ``keys`` is ascending (-createdAt µs, -seq), i.e. newest first: the window is a slice.
        lo = 0 if end is None else bisect_left(keys, (-_micros(end),))
        hi = len(keys) if start is None else bisect_left(keys, (-_micros(start) + 1,))
        hi = max(lo, hi)
        filtered = any(f is not None for f in (statuses, tasks, tags, versions, is_test))
        with self._lock:
            runs = self._runs
            shown_runs: dict[int, dict[str, Any]] = {}
            if not filtered:
                # The common query (a createdAt window only): positions in the index, no scan.
                picked: Sequence[int] = range(lo, hi)
            else:
                chosen_positions = []
                for position in range(lo, hi):
                    run = runs[ids[position]]
                    shown = _versioned(run, current)
                    if statuses is not None and shown["status"] not in statuses:
                        continue
                    if tasks is not None and run["taskIdentifier"] not in tasks:
                        continue
                    if tags is not None and not tags & set(run.get("tags", ())):
                        continue
                    if versions is not None and run.get("version") not in versions:
                        continue
                    if is_test is not None and bool(run.get("isTest")) != is_test:
                        continue
                    chosen_positions.append(position)
                picked = chosen_positions

            # ``picked`` holds index positions, ascending (newest first); a cursor's run
            # has a position too, so where a page starts is one bisection.
            if before is not None:
                end_at = bisect_left(picked, self._position(where, self._decode(before)))
                chosen = range(max(0, end_at - size), end_at)
            else:
                begin = (
                    0
                    if after is None
                    else bisect_right(picked, self._position(where, self._decode(after)))
                )
                chosen = range(begin, min(len(picked), begin + size))
            for index in chosen:
                shown_runs[index] = _versioned(runs[ids[picked[index]]], current)

        # Cursors name positions in the newest-first order: ``next`` (pass as page[after])
        # continues past the page's oldest item, ``previous`` (pass as page[before]) comes
        # back towards the newest. Each is given only when something lies that way.
        data = [_list_item(shown_runs[index], self.env) for index in chosen]
        pagination: dict[str, str] = {}
        if chosen and chosen.stop < len(picked):
            pagination["next"] = self._encode(-keys[picked[chosen[-1]]][1])
        if chosen and chosen.start > 0:
            pagination["previous"] = self._encode(-keys[picked[chosen[0]]][1])
        if before is not None:
            data.reverse()  # §4: a page[before] page comes back oldest first
        return {"data": data, "pagination": pagination}

    def _index(self) -> tuple[list[tuple[int, int]], list[str], dict[int, int]]:
        """The runs newest first: sort keys, run IDs, and sequence number → position.

        Rebuilt after ``add()`` (once, on the next list request), so a page of a
        large stand-in costs a bisection and the page, not a sort of every run.
        Keys are ``(-createdAt in µs, -seq)``: ascending is newest first, ties
        broken by the later-added run first.
        """
        with self._lock:
            if self._sorted is None:
                entries = sorted(
                    (-_micros(parse_iso(run["createdAt"])), -self._order[run_id], run_id)
                    for run_id, run in self._runs.items()
                )
                keys = [(created, seq) for created, seq, _ in entries]
                ids = [run_id for _, _, run_id in entries]
                where = {-seq: position for position, (_, seq) in enumerate(keys)}
                self._sorted = (keys, ids, where)
            return self._sorted

    @staticmethod
    def _position(where: dict[int, int], seq: int) -> int:
        """The index position of a cursor's run (``400 Invalid cursor`` for an unknown one)."""
        position = where.get(seq)
        if position is None:
            raise _BadRequest("Invalid cursor")
        return position

    def _encode(self, seq: int) -> str:
        raw = json.dumps({"o": seq, "s": self._salt}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def _decode(self, cursor: str) -> int:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            decoded = json.loads(raw)
            seq = decoded["o"]
            if decoded["s"] != self._salt or not isinstance(seq, int):
                raise ValueError(cursor)
        except (binascii.Error, ValueError, KeyError, TypeError):
            raise _BadRequest("Invalid cursor") from None
        return seq


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a float timestamp would round)."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def _env(key: str) -> str:
    for prefix, name in (("tr_prod_", "prod"), ("tr_stg_", "staging"), ("tr_dev_", "dev")):
        if key.startswith(prefix):
            return name
    return "dev"


def _versioned(run: dict[str, Any], current: bool) -> dict[str, Any]:
    """The run as a request with (``current``) or without the version header sees it."""
    if current or run["status"] not in LEGACY_STATUS:
        return run
    return {**run, "status": LEGACY_STATUS[run["status"]]}


def _list_item(run: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    item = {name: value for name, value in run.items() if name not in LIST_OMITS}
    item["env"] = dict(env)
    return item


def _moment(text: str, name: str) -> datetime:
    """ISO 8601 or epoch milliseconds (§4)."""
    try:
        if text.isdigit():
            return datetime.fromtimestamp(int(text) / 1000, UTC)
        return parse_iso(text)
    except (ValueError, OverflowError, OSError):
        raise _BadRequest(f"{name} must be ISO 8601 or epoch milliseconds, got {text!r}") from None


def _window(
    start: str | None, end: str | None, period: str | None
) -> tuple[datetime | None, datetime | None]:
    now = datetime.now(UTC)
    if period is not None:  # overrides from/to
        match = _PERIOD.match(period)
        if match is None:
            raise _BadRequest(f"filter[createdAt][period] must look like 1h or 7d, got {period!r}")
        return now - timedelta(seconds=int(match[1]) * _PERIOD_UNITS[match[2]]), None
    if start is None and end is None:
        return now - DEFAULT_WINDOW, None  # §4: without a createdAt filter, the last 7 days
    return (
        _moment(start, "filter[createdAt][from]") if start is not None else None,
        _moment(end, "filter[createdAt][to]") if end is not None else None,
    )


def _json(status: int, body: Any, limits: dict[str, str]) -> _Answer:
    return _Answer(
        status, json.dumps(body).encode(), {"content-type": "application/json", **limits}
    )

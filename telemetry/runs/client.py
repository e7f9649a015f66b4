"""The trigger.dev management API, read-only: retrieve one run, list runs (TRIGGER_API.md).

``TriggerClient`` wraps one ``httpx.Client`` (one per process: the caller
keeps it, see ``make_http_client``). Every request carries the bearer key and
``x-trigger-api-version``; every answer's ``x-ratelimit-remaining`` /
``x-ratelimit-reset`` paces the next request (remaining 0: sleep until the
reset), a 429 waits until its reset and tries again, 5xx / timeouts /
connection errors are retried with backoff. Then a ``RunsError`` subclass
with a specific message. The key never appears in a message or a repr.
Payload and output are never fetched (the list has neither; retrieve's are
ignored).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson
from pydantic import SecretStr

from ..config import redact_url, trigger_key_problem
from ..errors import ConfigError, RunsAuthError, RunsDataError, RunsUnavailableError
from .model import KNOWN_STATUSES, RunState, parse_run

if TYPE_CHECKING:
    import httpx  # imported where used: a resolve without --runs never loads it

    from ..config import Settings

API_VERSION = "2025-07-16"
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
MAX_PAGE_SIZE = 100


def make_http_client(
    settings: Settings | None = None, *, read_timeout: float = READ_TIMEOUT
) -> httpx.Client:
    """An ``httpx.Client`` with the timeouts and pool Run Lookup uses; keep one per process.

    ``settings`` is accepted for symmetry with the other factories (the base
    URL and key go to ``TriggerClient``, not into the pool).
    """
    del settings
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(read_timeout, connect=CONNECT_TIMEOUT),
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=5),
        follow_redirects=False,
    )


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _reset_seconds(value: Any) -> float | None:
    """``x-ratelimit-reset`` / body ``reset`` (Unix ms) as Unix seconds, or None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if number != number or number <= 0:
        return None
    # The API sends ms; a value that only makes sense as seconds is read as such.
    return number / 1000 if number > 1e11 else number


class TriggerClient:
    """Read runs of the key's environment; counts every request sent in ``requests_made``."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        base_url: str,
        key: SecretStr,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_retries: int = 3,
        max_rate_waits: int = 5,
        backoff_seconds: float = 0.5,
        max_wait_seconds: float = 120.0,
    ) -> None:
        self._http = http
        self._base = base_url.rstrip("/")
        self._shown = redact_url(self._base)
        problem = trigger_key_problem(key.get_secret_value())
        if problem:
            raise ConfigError(problem)
        self._key = key
        self._sleep = sleep
        self._clock = clock
        self.max_retries = max_retries
        self.max_rate_waits = max_rate_waits
        self.backoff_seconds = backoff_seconds
        self.max_wait_seconds = max_wait_seconds
        self._not_before = 0.0
        # Pacing is shared by the threads of one bulk (``run_states(concurrency=…)``):
        # the budget left by the last answer, less the requests still in flight.
        self._lock = threading.Lock()
        self._remaining: int | None = None
        self._reset_at: float | None = None
        self._in_flight = 0
        self.requests_made = 0
        self.rate_limited = 0  # 429 answers seen
        self.slept_seconds = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, http: httpx.Client, **kwargs: Any) -> TriggerClient:
        """A client for TRIGGER_API_URL with TRIGGER_SECRET_KEY; ``ConfigError`` if unset."""
        if settings.trigger_secret_key is None:
            raise ConfigError("TRIGGER_SECRET_KEY is not set — set it to show run state")
        return cls(
            http, base_url=settings.trigger_api_url, key=settings.trigger_secret_key, **kwargs
        )

    def __repr__(self) -> str:
        return f"TriggerClient(base_url={self._shown!r}, requests_made={self.requests_made})"

    # -- public -----------------------------------------------------------------

    def retrieve(self, run_id: str) -> RunState | None:
        """The run's state, or None when the API answers 404 (not in this environment)."""
        path = f"/api/v3/runs/{quote(run_id, safe='')}"
        response = self._request(path, {}, what=f"run {run_id}", not_found_ok=True)
        if response is None:
            return None
        return parse_run(self._json(response, f"run {run_id}"))

    def list_runs(
        self,
        *,
        created_from: datetime,
        created_to: datetime,
        statuses: Iterable[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[RunState]:
        """Runs created in [created_from, created_to], page by page (one request each)."""
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE} (got {page_size})")
        params: dict[str, str] = {
            "filter[createdAt][from]": _iso(created_from),
            "filter[createdAt][to]": _iso(created_to),
            "page[size]": str(page_size),
        }
        if statuses is not None:
            wanted = list(statuses)
            unknown = sorted(set(wanted) - KNOWN_STATUSES)
            if unknown:
                raise ValueError(
                    f"unknown run status filter {unknown} — use {sorted(KNOWN_STATUSES)}"
                )
            params["filter[status]"] = ",".join(wanted)
        seen: set[str] = set()
        cursor: str | None = None
        while True:
            page_params = dict(params)
            if cursor is not None:
                page_params["page[after]"] = cursor
            response = self._request("/api/v1/runs", page_params, what="the run list")
            assert response is not None  # noqa: S101 - not_found_ok is False
            body = self._json(response, "the run list")
            if not isinstance(body, dict) or not isinstance(body.get("data"), list):
                raise RunsDataError(
                    f"trigger.dev at {self._shown} answered the run list without a 'data' "
                    "list — check TRIGGER_API_URL points at the trigger.dev API"
                )
            for item in body["data"]:
                yield parse_run(item)
            pagination = body.get("pagination")
            cursor = pagination.get("next") if isinstance(pagination, dict) else None
            if cursor is None or cursor == "":
                return
            if not isinstance(cursor, str):
                raise RunsDataError(
                    f"trigger.dev at {self._shown} answered the run list with a "
                    "'pagination.next' that is not a string — the API may have changed"
                )
            if cursor in seen:
                raise RunsDataError(
                    f"trigger.dev at {self._shown} sent the same run-list page cursor twice — "
                    "stopped rather than loop"
                )
            seen.add(cursor)

    # -- internals --------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._key.get_secret_value()}",
            "x-trigger-api-version": API_VERSION,
            "Accept": "application/json",
        }

    def _scrub(self, text: str) -> str:
        key = self._key.get_secret_value()
        return text.replace(key, "***") if key else text

    def _wait_until(self, moment: float) -> None:
        delay = moment - self._clock()
        if delay > 0:
            with self._lock:
                self.slept_seconds += delay
            self._sleep(delay)

    def _reserve(self, what: str) -> None:
        """Wait until a request may go out within the budget, then count it as in flight.

        A request goes when the last answer's ``x-ratelimit-remaining`` exceeds
        the requests already in flight (or that answer's reset has passed), and
        not before a 429's reset: concurrent retrieves never overrun the budget
        the API announced.
        """
        while True:
            with self._lock:
                now = self._clock()
                moment = self._not_before
                if (
                    self._remaining is not None
                    and self._reset_at is not None
                    and self._remaining - self._in_flight <= 0
                    and self._reset_at > now
                ):
                    moment = max(moment, self._reset_at)
                ahead = moment - now
                if ahead <= 0:
                    self._in_flight += 1
                    self.requests_made += 1
                    return
            # A budget used up until a far reset is no shorter a wait than a 429's.
            if ahead > self.max_wait_seconds:
                raise RunsUnavailableError(
                    f"trigger.dev at {self._shown} has no rate-limit budget left for {what} "
                    f"until its reset in {ahead:.0f} s — try again later"
                )
            self._wait_until(moment)

    def _pace(self, response: httpx.Response | None) -> None:
        """Take the answer's budget (None: the request failed in transport) and end its flight."""
        remaining = reset = None
        if response is not None:
            reset = _reset_seconds(response.headers.get("x-ratelimit-reset"))
            try:
                remaining = int(float(response.headers.get("x-ratelimit-remaining", "")))
            except ValueError:
                remaining = None
        with self._lock:
            self._in_flight -= 1
            if remaining is None or reset is None:
                return
            if reset == self._reset_at and self._remaining is not None:
                # Answers of one refill window can arrive out of order: the lowest is
                # the latest count.
                remaining = min(remaining, self._remaining)
            self._remaining, self._reset_at = remaining, reset
            if remaining <= 0:
                self._not_before = max(self._not_before, reset)

    def _rate_reset(self, response: httpx.Response) -> float | None:
        reset = _reset_seconds(response.headers.get("x-ratelimit-reset"))
        if reset is None:
            try:
                body = orjson.loads(response.content)
            except orjson.JSONDecodeError:
                body = None
            if isinstance(body, dict):
                reset = _reset_seconds(body.get("reset"))
                if reset is None:
                    try:
                        reset = self._clock() + float(body.get("secondsUntilReset"))  # type: ignore[arg-type]
                    except (TypeError, ValueError):
                        reset = None
        return reset

    def _request(
        self, path: str, params: dict[str, str], *, what: str, not_found_ok: bool = False
    ) -> httpx.Response | None:
        import httpx  # loaded already: make_http_client built self._http

        url = self._base + path
        failures = 0
        rate_waits = 0
        while True:
            self._reserve(what)
            try:
                response = self._http.get(url, params=params, headers=self._headers())
            except httpx.TimeoutException as exc:
                self._pace(None)
                problem = f"did not answer in time ({type(exc).__name__})"
            except httpx.TransportError as exc:
                self._pace(None)
                problem = f"cannot be reached ({type(exc).__name__})"
            except httpx.RequestError as exc:  # e.g. a body that cannot be decoded
                self._pace(None)
                problem = f"answered unreadably ({type(exc).__name__})"
            except BaseException:
                self._pace(None)
                raise
            else:
                self._pace(response)
                status = response.status_code
                if status < 300:
                    return response
                if status == 404 and not_found_ok:
                    return None  # final: the SDK's x-should-retry does not apply to us
                if status == 429:
                    with self._lock:
                        self.rate_limited += 1
                    rate_waits += 1
                    if rate_waits > self.max_rate_waits:
                        raise RunsUnavailableError(
                            f"trigger.dev at {self._shown} kept answering 429 (rate limit) for "
                            f"{what} after {self.max_rate_waits} waits — the key's budget of "
                            "1,500 requests a minute is used up elsewhere; try again later"
                        )
                    reset = self._rate_reset(response)
                    now = self._clock()
                    if reset is None or reset <= now:
                        # No reset, or one already past by our clock (skew): back off,
                        # doubling, so a few waits span a whole refill period.
                        reset = now + self.backoff_seconds * 2 ** (rate_waits - 1)
                    moment = reset
                    if moment - now > self.max_wait_seconds:
                        raise RunsUnavailableError(
                            f"trigger.dev at {self._shown} answered 429 (rate limit) for {what} "
                            f"and resets only in {moment - now:.0f} s — try again later"
                        )
                    with self._lock:
                        self._not_before = max(self._not_before, moment)
                    continue
                self._raise_for_status(response, what)
                problem = f"answered {status} {response.reason_phrase}".rstrip()
            failures += 1
            if failures > self.max_retries:
                raise RunsUnavailableError(
                    self._scrub(
                        f"trigger.dev at {self._shown} {problem} for {what}, "
                        f"{failures} times — the API is down or slow; try again later"
                    )
                )
            self._wait_until(self._clock() + self.backoff_seconds * 2 ** (failures - 1))

    def _raise_for_status(self, response: httpx.Response, what: str) -> None:
        """Raise for a final 4xx; return for a 5xx (retried by the caller)."""
        status = response.status_code
        if status >= 500:
            return
        if 300 <= status < 400:
            raise RunsDataError(
                f"trigger.dev at {self._shown} redirected the request for {what} ({status}) — "
                "set TRIGGER_API_URL to the API's own address (e.g. https://api.trigger.dev), "
                "not the dashboard's"
            )
        if status == 401:
            raise RunsAuthError(
                "TRIGGER_SECRET_KEY was refused (401): check it belongs to this environment "
                f"and is a secret key (tr_prod_…, tr_stg_…, tr_dev_…) of {self._shown}"
            )
        if status == 403:
            raise RunsAuthError(
                f"TRIGGER_SECRET_KEY may not read {what} (403 forbidden) — use the "
                "environment's secret API key (tr_prod_…, tr_stg_…, tr_dev_…), not a public "
                "or restricted token"
            )
        if status == 404:
            raise RunsDataError(
                f"trigger.dev at {self._shown} has no such endpoint for {what} (404) — "
                "check TRIGGER_API_URL"
            )
        detail = ""
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            detail = f": {body['error'][:200]}"
        raise RunsDataError(
            self._scrub(
                f"trigger.dev at {self._shown} refused the request for {what} "
                f"({status}{detail}) — this is a Run Lookup bug; report it"
            )
        )

    def _json(self, response: httpx.Response, what: str) -> Any:
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            kind = response.headers.get("content-type", "no content type")
            raise RunsDataError(
                f"trigger.dev at {self._shown} answered {what} with something that is not "
                f"JSON ({kind[:60]}, {len(response.content)} bytes) — check TRIGGER_API_URL "
                "points at the trigger.dev API, not a proxy or login page"
            ) from None

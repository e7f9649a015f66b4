"""trigger.dev client and bulk run state (issue #14) against an httpx.MockTransport fake.

No real sleeping: the client gets a frozen clock and a sleep that moves it.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from pydantic import SecretStr

from clocks import FrozenClock
from telemetry.errors import (
    ConfigError,
    RunsAuthError,
    RunsDataError,
    RunsError,
    RunsUnavailableError,
)
from telemetry.runs import (
    API_VERSION,
    FAILED_STATUSES,
    KNOWN_STATUSES,
    NOT_IN_ENVIRONMENT,
    SUCCESS,
    RunState,
    TriggerClient,
    Unavailable,
    is_known,
    make_http_client,
    parse_run,
    run_states,
)

KEY = "tr_prod_TopS3cretKeyValue42"
BASE = "https://trigger.test"
T0 = datetime(2027, 1, 15, 8, 0, tzinfo=UTC)
LIST_ONLY = ("error", "relatedRuns", "attemptCount", "payload", "output")


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def make_run(run_id: str, *, status: str = SUCCESS, created_at: datetime = T0) -> dict[str, Any]:
    """A §2 retrieve answer."""
    run: dict[str, Any] = {
        "id": run_id,
        "status": status,
        "taskIdentifier": "attempt-billing-run",
        "createdAt": _iso(created_at),
        "updatedAt": _iso(created_at + timedelta(seconds=9)),
        "startedAt": _iso(created_at + timedelta(seconds=1)),
        "finishedAt": _iso(created_at + timedelta(seconds=8)),
        "durationMs": 6543,
        "attemptCount": 2,
        "isTest": False,
        "tags": ["org_1", "billing"],
        "payload": {"secret": "customer data"},
        "relatedRuns": {"root": {"id": "run_root"}, "parent": {"id": "run_parent"}},
    }
    if status in FAILED_STATUSES:
        run["error"] = {"name": "StripeError", "message": "card declined", "stackTrace": "at x"}
    return run


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=orjson.dumps(body), headers=headers)


class FakeAPI:
    """The API of TRIGGER_API.md as a MockTransport handler; ``script`` answers first."""

    def __init__(self, runs: list[dict[str, Any]] = ()) -> None:  # type: ignore[assignment]
        self.runs = {run["id"]: run for run in runs}
        self.requests: list[httpx.Request] = []
        self.script: list[httpx.Response | Exception | Callable[[], Any]] = []
        self.fail_after: int | None = None  # every request after this many answers 503
        self.headers: dict[str, str] = {}

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_after is not None and len(self.requests) > self.fail_after:
            return _json(503, {"error": "down"})
        if self.script:
            answer = self.script.pop(0)
            if isinstance(answer, Exception):
                raise answer
            if isinstance(answer, httpx.Response):
                return answer
        if request.headers.get("authorization") != f"Bearer {KEY}":
            return _json(401, {"error": "Invalid API key"})
        path = request.url.path
        if path.startswith("/api/v3/runs/"):
            run = self.runs.get(path.removeprefix("/api/v3/runs/"))
            if run is None:
                return _json(404, {"error": "Not found"}, {"x-should-retry": "true"})
            return _json(200, run, self.headers)
        if path == "/api/v1/runs":
            return self._list(request)
        return _json(404, {"error": "Not found"})

    def _list(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        start = datetime.fromisoformat(params["filter[createdAt][from]"])
        end = datetime.fromisoformat(params["filter[createdAt][to]"])
        size = int(params.get("page[size]", "25"))
        statuses = params.get("filter[status]")
        rows = sorted(
            (
                run
                for run in self.runs.values()
                if start <= datetime.fromisoformat(run["createdAt"]) <= end
                and (statuses is None or run["status"] in statuses.split(","))
            ),
            key=lambda run: (run["createdAt"], run["id"]),
            reverse=True,
        )
        offset = 0
        if "page[after]" in params:
            offset = int(base64.b64decode(params["page[after]"]).decode().removeprefix("off:"))
        page = rows[offset : offset + size]
        data = [{k: v for k, v in run.items() if k not in LIST_ONLY} for run in page]
        pagination: dict[str, str] = {}
        if offset + size < len(rows):
            pagination["next"] = base64.b64encode(f"off:{offset + size}".encode()).decode()
        return _json(200, {"data": data, "pagination": pagination}, self.headers)

    def count(self, prefix: str) -> int:
        return sum(1 for request in self.requests if request.url.path.startswith(prefix))


class Sleeper:
    """Records each sleep and moves the frozen clock instead of sleeping."""

    def __init__(self, clock: FrozenClock) -> None:
        self.clock = clock
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.clock.now += seconds


def make_client(api: FakeAPI, **kwargs: Any) -> tuple[TriggerClient, Sleeper]:
    clock = FrozenClock(T0.timestamp())
    sleeper = Sleeper(clock)
    http = httpx.Client(transport=httpx.MockTransport(api))
    client = TriggerClient(
        http, base_url=BASE, key=SecretStr(KEY), sleep=sleeper, clock=clock, **kwargs
    )
    return client, sleeper


# -- model ---------------------------------------------------------------------


def test_statuses_are_the_current_set() -> None:
    """KNOWN_STATUSES is §3's current set: six not finished, COMPLETED, six failed."""
    assert len(KNOWN_STATUSES) == 13
    assert SUCCESS == "COMPLETED" and SUCCESS not in FAILED_STATUSES
    assert {
        "CANCELED",
        "FAILED",
        "CRASHED",
        "SYSTEM_FAILURE",
        "EXPIRED",
        "TIMED_OUT",
    } == FAILED_STATUSES
    assert is_known("DEQUEUED") and not is_known("REATTEMPTING")


def test_parse_run_reads_every_field() -> None:
    """A retrieve answer becomes a RunState with UTC times, tags, error and related runs."""
    state = parse_run(make_run("run_1", status="FAILED"))
    assert state == RunState(
        run_id="run_1",
        status="FAILED",
        task_identifier="attempt-billing-run",
        created_at=T0,
        started_at=T0 + timedelta(seconds=1),
        finished_at=T0 + timedelta(seconds=8),
        duration_ms=6543,
        attempt_count=2,
        is_test=False,
        tags=("org_1", "billing"),
        error_name="StripeError",
        error_message="card declined",
        error_stack="at x",
        root_run_id="run_root",
        parent_run_id="run_parent",
    )
    assert state.created_at is not None and state.created_at.tzinfo is UTC


def test_parse_run_list_item_leaves_missing_fields_none() -> None:
    """A list item (no error, relatedRuns, attemptCount) and an unknown status are tolerated."""
    state = parse_run({"id": "run_2", "status": "HIBERNATING"})
    assert state.status == "HIBERNATING" and not state.known_status
    assert state.attempt_count is None and state.error_message is None
    assert state.root_run_id is None and state.tags == () and state.created_at is None


@pytest.mark.parametrize(
    ("obj", "message_part"),
    [
        ([], "not a JSON object"),
        ({"status": "COMPLETED"}, "without a string 'id'"),
        ({"id": "run_x"}, "without its 'status' field"),
        ({"id": "run_x", "status": 3}, "'status' of type int"),
        ({"id": "run_x", "status": "QUEUED", "createdAt": "yesterday"}, "'createdAt'"),
        ({"id": "run_x", "status": "QUEUED", "durationMs": "12"}, "'durationMs'"),
        ({"id": "run_x", "status": "QUEUED", "tags": "a,b"}, "'tags'"),
        ({"id": "run_x", "status": "QUEUED", "isTest": "no"}, "'isTest'"),
        ({"id": "run_x", "status": "QUEUED", "relatedRuns": {"root": 5}}, "relatedRuns.root"),
    ],
    ids=[
        "not-object",
        "no-id",
        "no-status",
        "status-int",
        "bad-time",
        "duration-str",
        "tags-str",
        "is-test-str",
        "related-int",
    ],
)
def test_parse_run_malformed_names_the_field(obj: Any, message_part: str) -> None:
    """A malformed run raises RunsDataError naming what is wrong."""
    with pytest.raises(RunsDataError, match=message_part.replace("(", r"\(")):
        parse_run(obj)


# -- retrieve ------------------------------------------------------------------


def test_requests_carry_bearer_key_and_version() -> None:
    """Every request sends Authorization: Bearer <key> and x-trigger-api-version."""
    api = FakeAPI([make_run("run_1")])
    client, _ = make_client(api)
    client.retrieve("run_1")
    list(client.list_runs(created_from=T0, created_to=T0 + timedelta(hours=1)))
    assert len(api.requests) == 2
    for request in api.requests:
        assert request.headers["authorization"] == f"Bearer {KEY}"
        assert request.headers["x-trigger-api-version"] == API_VERSION == "2025-07-16"
    assert api.requests[0].url == f"{BASE}/api/v3/runs/run_1"


def test_retrieve_quotes_the_run_id_into_one_path_segment() -> None:
    """A run ID with / or ? stays one path segment (no other endpoint is reachable)."""
    api = FakeAPI()
    client, _ = make_client(api)
    assert client.retrieve("run_../../v1/runs?x=1") is None
    assert api.requests[0].url.raw_path == b"/api/v3/runs/run_..%2F..%2Fv1%2Fruns%3Fx%3D1"


def _respond(*answers: httpx.Response | Exception) -> list[httpx.Response | Exception]:
    return list(answers)


RUN_OK = make_run("run_1")
RETRIEVE_CASES = [
    ("found", [], "state", None, 1),
    ("not-found-is-final", [_json(404, {"error": "Not found"}, {"x-should-retry": "true"})],
     None, None, 1),
    ("401", [_json(401, {"error": "Invalid API key"})], RunsAuthError,
     "TRIGGER_SECRET_KEY was refused (401): check it belongs to this environment", 1),
    ("403", [_json(403, {"error": "Forbidden"})], RunsAuthError, "(403 forbidden)", 1),
    ("5xx-then-ok", [_json(502, {}), _json(500, {})], "state", None, 3),
    ("5xx-exhausted", [_json(503, {})] * 4, RunsUnavailableError,
     "answered 503 Service Unavailable for run run_1, 4 times", 4),
    ("timeout-exhausted", [httpx.ReadTimeout("slow")] * 4, RunsUnavailableError,
     "did not answer in time (ReadTimeout)", 4),
    ("connect-error-then-ok", [httpx.ConnectError("refused")], "state", None, 2),
    ("connect-exhausted", [httpx.ConnectError("refused")] * 4, RunsUnavailableError,
     "cannot be reached (ConnectError)", 4),
    ("malformed-json", [httpx.Response(200, content=b"<html>login</html>")], RunsDataError,
     "not JSON", 1),
    ("400", [_json(400, {"error": "bad"})], RunsDataError, "(400: bad)", 1),
    ("redirect", [httpx.Response(302, headers={"location": "https://cloud.trigger.dev/login"})],
     RunsDataError, "redirected the request for run run_1 (302)", 1),
    ("undecodable-exhausted", [httpx.DecodingError("bad gzip")] * 4, RunsUnavailableError,
     "answered unreadably (DecodingError)", 4),
    ("unknown-status-kept", [_json(200, {"id": "run_1", "status": "NEW_THING"})], "NEW_THING",
     None, 1),
]  # fmt: skip


@pytest.mark.parametrize(
    ("answers", "expected", "message_part", "requests"),
    [case[1:] for case in RETRIEVE_CASES],
    ids=[case[0] for case in RETRIEVE_CASES],
)
def test_retrieve_outcomes(
    answers: list[Any], expected: Any, message_part: str | None, requests: int
) -> None:
    """retrieve: a state, None for 404 (not retried), or a specific error after bounded retries."""
    api = FakeAPI([RUN_OK])
    api.script = list(answers)
    client, sleeper = make_client(api)
    if isinstance(expected, type) and issubclass(expected, RunsError):
        with pytest.raises(expected) as info:
            client.retrieve("run_1")
        assert message_part is not None and message_part in str(info.value)
        assert KEY not in str(info.value) and KEY not in repr(info.value)
    elif expected is None:
        assert client.retrieve("run_1") is None
    else:
        state = client.retrieve("run_1")
        assert state is not None and state.run_id == "run_1"
        assert state.status == (SUCCESS if expected == "state" else expected)
    assert client.requests_made == len(api.requests) == requests
    # Backoff between retries: 0.5 s, 1 s, 2 s — measured on the fake clock.
    assert sleeper.sleeps == [0.5, 1.0, 2.0][: requests - 1]


def test_key_never_in_repr_or_any_error() -> None:
    """The secret key is in no repr and no message, even when the server echoes it back."""
    echo = _json(400, {"error": f"bad header Bearer {KEY}"})
    api = FakeAPI()
    api.script = [echo, _json(401, {"error": KEY}), _json(403, {"error": KEY})]
    client, _ = make_client(api)
    assert KEY not in repr(client) and BASE in repr(client)
    for _ in range(3):
        with pytest.raises(RunsError) as info:
            client.retrieve("run_1")
        assert KEY not in str(info.value) and KEY not in repr(info.value)


@pytest.mark.parametrize(
    "key",
    ["", "tr_prod_abc def", "tr_prod_abc\n", "tr_prod_äbc"],
    ids=["empty", "space", "line-break", "non-ascii"],
)
def test_client_refuses_a_key_no_header_can_carry(key: str) -> None:
    """A key that cannot go in a header is a ConfigError naming the setting, not the key."""
    with pytest.raises(ConfigError, match="TRIGGER_SECRET_KEY") as info:
        TriggerClient(httpx.Client(), base_url=BASE, key=SecretStr(key))
    assert not key or key not in str(info.value)


# -- list ----------------------------------------------------------------------


def test_list_follows_opaque_cursors_with_created_at_bounds() -> None:
    """Pages of 100 follow pagination.next unchanged; every request is bounded by createdAt."""
    runs = [make_run(f"run_{i:03}", created_at=T0 + timedelta(seconds=i)) for i in range(250)]
    api = FakeAPI(runs)
    client, _ = make_client(api)
    end = T0 + timedelta(hours=1)
    listed = list(client.list_runs(created_from=T0, created_to=end))
    assert [state.run_id for state in listed] == [f"run_{i:03}" for i in reversed(range(250))]
    assert client.requests_made == 3
    cursors = [request.url.params.get("page[after]") for request in api.requests]
    assert cursors[0] is None
    assert cursors[1] == base64.b64encode(b"off:100").decode()  # passed back as sent
    for request in api.requests:
        assert request.url.params["filter[createdAt][from]"] == "2027-01-15T08:00:00.000Z"
        assert request.url.params["filter[createdAt][to]"] == "2027-01-15T09:00:00.000Z"
        assert request.url.params["page[size]"] == "100"
        assert "filter[status]" not in request.url.params


def test_list_status_filter_and_bad_arguments() -> None:
    """statuses go comma-separated; an unknown status or page size is refused before any request."""
    runs = [make_run("run_a", status="FAILED"), make_run("run_b")]
    api = FakeAPI(runs)
    client, _ = make_client(api)
    got = list(client.list_runs(created_from=T0, created_to=T0, statuses=["FAILED", "CRASHED"]))
    assert [state.run_id for state in got] == ["run_a"]
    assert api.requests[0].url.params["filter[status]"] == "FAILED,CRASHED"
    with pytest.raises(ValueError, match="REATTEMPTING"):
        list(client.list_runs(created_from=T0, created_to=T0, statuses=["REATTEMPTING"]))
    with pytest.raises(ValueError, match="page_size"):
        list(client.list_runs(created_from=T0, created_to=T0, page_size=101))
    assert client.requests_made == 1


@pytest.mark.parametrize(
    ("body", "message_part"),
    [
        ({"items": []}, "without a 'data' list"),
        ({"data": [], "pagination": {"next": 7}}, "'pagination.next' that is not a string"),
    ],
    ids=["no-data", "cursor-not-string"],
)
def test_list_malformed_page(body: Any, message_part: str) -> None:
    """A list answer not shaped as §4 raises RunsDataError saying what is wrong."""
    api = FakeAPI()
    api.script = [_json(200, body)]
    client, _ = make_client(api)
    with pytest.raises(RunsDataError, match=message_part):
        list(client.list_runs(created_from=T0, created_to=T0))


def test_list_repeated_cursor_stops() -> None:
    """A server that sends the same cursor again does not make the client loop forever."""
    page = {"data": [], "pagination": {"next": "same"}}
    api = FakeAPI()
    api.script = [_json(200, page), _json(200, page)]
    client, _ = make_client(api)
    with pytest.raises(RunsDataError, match="same run-list page cursor twice"):
        list(client.list_runs(created_from=T0, created_to=T0))
    assert client.requests_made == 2


# -- pacing and 429 ------------------------------------------------------------


def _ms(moment: float) -> str:
    return str(int(moment * 1000))


def test_remaining_zero_sleeps_until_reset_before_the_next_request() -> None:
    """x-ratelimit-remaining 0 makes the next request wait exactly until x-ratelimit-reset."""
    api = FakeAPI([make_run("run_1")])
    reset = T0.timestamp() + 7.5
    api.headers = {"x-ratelimit-remaining": "0", "x-ratelimit-reset": _ms(reset)}
    client, sleeper = make_client(api)
    client.retrieve("run_1")
    assert sleeper.sleeps == []  # nothing to wait for before the first request
    client.retrieve("run_1")
    assert sleeper.sleeps == [pytest.approx(7.5)]
    api.headers = {"x-ratelimit-remaining": "5", "x-ratelimit-reset": _ms(reset + 10)}
    client.retrieve("run_1")
    client.retrieve("run_1")
    assert len(sleeper.sleeps) == 1  # budget left: no waiting


@pytest.mark.parametrize(
    ("headers", "body", "second_wait"),
    [
        (
            {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "RESET"},
            {"title": "Rate Limit"},
            1.0,
        ),
        ({"content-type": "application/problem+json"}, {"status": 429, "reset": "RESET"}, 1.0),
        ({}, {"status": 429, "secondsUntilReset": 4}, 4.0),
    ],
    ids=["reset-header", "reset-in-body", "seconds-until-reset"],
)
def test_429_waits_until_reset_then_retries(
    headers: dict[str, str], body: dict, second_wait: float
) -> None:
    """A 429 waits until its reset (header, else body) and tries again, once per 429."""
    reset = _ms(T0.timestamp() + 4)
    headers = {k: v.replace("RESET", reset) for k, v in headers.items()}
    body = {k: (reset if v == "RESET" else v) for k, v in body.items()}
    api = FakeAPI([make_run("run_1")])
    api.script = [_json(429, body, headers), _json(429, body, headers)]
    client, sleeper = make_client(api)
    state = client.retrieve("run_1")
    assert state is not None and state.run_id == "run_1"
    assert client.requests_made == 3 and client.rate_limited == 2
    # The first 429 waits 4 s; a second one with the same (now past) reset backs off 2 × 0.5 s.
    assert sleeper.sleeps == [pytest.approx(4.0), pytest.approx(second_wait)]


def test_429_storm_gives_up_with_a_specific_message() -> None:
    """More 429s than max_rate_waits: RunsUnavailableError about the rate budget."""
    api = FakeAPI([make_run("run_1")])
    api.script = [_json(429, {"status": 429})] * 10
    client, _ = make_client(api, max_rate_waits=3)
    with pytest.raises(RunsUnavailableError, match="kept answering 429"):
        client.retrieve("run_1")
    assert client.requests_made == 4


def test_429_resetting_too_far_ahead_is_not_waited_for() -> None:
    """A 429 whose reset is beyond max_wait_seconds fails at once instead of hanging."""
    api = FakeAPI()
    api.script = [_json(429, {"reset": _ms(T0.timestamp() + 3600)})]
    client, sleeper = make_client(api, max_wait_seconds=60)
    with pytest.raises(RunsUnavailableError, match="resets only in 3600 s"):
        client.retrieve("run_1")
    assert sleeper.sleeps == []


def test_make_http_client_timeouts() -> None:
    """The shared httpx client connects within 5 s and reads within 15 s."""
    with make_http_client() as http:
        assert http.timeout.connect == 5.0
        assert http.timeout.read == 15.0


# -- bulk ----------------------------------------------------------------------


def _span_runs(count: int, every: timedelta, status: str = SUCCESS) -> list[dict[str, Any]]:
    return [make_run(f"run_{i:05}", status=status, created_at=T0 + i * every) for i in range(count)]


def _processed(run: dict[str, Any]) -> datetime:
    """When a record says the run was processed: a few seconds after it was created."""
    return datetime.fromisoformat(run["createdAt"]) + timedelta(seconds=5)


def test_bulk_lists_the_span_and_retrieves_only_the_rest() -> None:
    """1,000 runs in the span, 250 wanted: 10 list pages + one retrieve per run not listed."""
    runs = _span_runs(1_000, timedelta(seconds=30))
    api = FakeAPI([*runs, make_run("run_older", created_at=T0 - timedelta(days=2))])
    wanted: dict[str, datetime | None] = {run["id"]: _processed(run) for run in runs[::4]}
    wanted["run_other_env"] = T0 + timedelta(hours=2)  # 404: another environment
    wanted["run_older"] = T0  # created two days before the span
    wanted["run_no_time"] = None
    api.runs["run_no_time"] = make_run("run_no_time", created_at=T0 - timedelta(days=9))
    client, _ = make_client(api)
    states = run_states(client, wanted)
    assert list(states) == list(wanted)
    assert api.count("/api/v1/runs") == 10  # ceil(1,000 / 100)
    assert api.count("/api/v3/runs/") == 3  # the three runs the listing did not contain
    assert client.requests_made == 13
    assert states["run_other_env"] is NOT_IN_ENVIRONMENT
    for run_id in wanted:
        if run_id != "run_other_env":
            assert isinstance(states[run_id], RunState)
            assert states[run_id].run_id == run_id  # type: ignore[union-attr]


def test_bulk_retrieves_failed_runs_for_their_error() -> None:
    """List items have no error: each listed failed run is retrieved once for its message."""
    runs = _span_runs(150, timedelta(seconds=10))
    for run in runs[:3]:
        run.update(make_run(run["id"], status="CRASHED", created_at=T0))
    api = FakeAPI(runs)
    client, _ = make_client(api)
    states = run_states(client, {run["id"]: _processed(run) for run in runs})
    assert api.count("/api/v1/runs") == 2 and api.count("/api/v3/runs/") == 3
    crashed = states["run_00000"]
    assert isinstance(crashed, RunState) and crashed.error_message == "card declined"
    assert crashed.root_run_id == "run_root"
    client, _ = make_client(api)
    run_states(client, {run["id"]: _processed(run) for run in runs}, error_details=False)
    assert client.requests_made == 2


def test_bulk_busy_span_few_runs_retrieves_instead() -> None:
    """A span of 10,000 runs with 3 wanted: listing stops after one page, the rest retrieved."""
    runs = _span_runs(10_000, timedelta(seconds=6))
    api = FakeAPI(runs)
    picks = [runs[0], runs[5_000], runs[-1]]
    client, _ = make_client(api)
    states = run_states(client, {run["id"]: _processed(run) for run in picks})
    assert all(isinstance(state, RunState) for state in states.values())
    assert api.count("/api/v1/runs") == 1
    assert client.requests_made <= len(picks) + 1


@pytest.mark.parametrize(
    ("wanted", "expected_requests"),
    [(0, 0), (1, 1)],
    ids=["nothing", "one-timed-run-is-retrieved"],
)
def test_bulk_small_inputs(wanted: int, expected_requests: int) -> None:
    """No runs cost nothing; a single run is retrieved, not listed."""
    runs = _span_runs(300, timedelta(seconds=1))
    api = FakeAPI(runs)
    client, _ = make_client(api)
    states = run_states(client, {run["id"]: _processed(run) for run in runs[:wanted]})
    assert len(states) == wanted and client.requests_made == expected_requests
    assert api.count("/api/v1/runs") == 0


def test_bulk_failure_midway_leaves_the_rest_unavailable() -> None:
    """The API dies after two list pages: listed runs keep their state, the rest say why."""
    runs = _span_runs(1_000, timedelta(seconds=30))
    api = FakeAPI(runs)
    api.fail_after = 2
    wanted = {run["id"]: _processed(run) for run in runs[::2]}
    client, _ = make_client(api)
    states = run_states(client, wanted)  # never raises
    known = [state for state in states.values() if isinstance(state, RunState)]
    missing = [state for state in states.values() if isinstance(state, Unavailable)]
    assert len(known) == 100 and len(missing) == 400  # 2 newest pages of 100, every other run
    assert {state.reason for state in missing} == {
        f"trigger.dev at {BASE} answered 503 Service Unavailable for the run list, 4 times — "
        "the API is down or slow; try again later"
    }
    assert missing[0].status == "unavailable"
    assert client.requests_made == 2 + 4


def test_bulk_refused_key_marks_every_run_without_the_key() -> None:
    """A 401 marks every run unavailable with the 401 message; the key is nowhere."""
    api = FakeAPI(_span_runs(10, timedelta(seconds=1)))
    api.script = [_json(401, {"error": "Invalid API key"})]
    client, _ = make_client(api)
    states = run_states(client, {f"run_{i:05}": T0 for i in range(10)})
    reasons = {state.reason for state in states.values() if isinstance(state, Unavailable)}
    assert len(reasons) == 1 and "(401)" in reasons.pop()
    assert KEY not in repr(states)
    assert client.requests_made == 1


def test_bulk_malformed_run_marks_only_that_run() -> None:
    """A malformed answer for one retrieved run marks it unavailable; the others are learned."""
    api = FakeAPI([make_run("run_a"), make_run("run_c")])
    api.runs["run_b"] = {"id": "run_b", "status": "QUEUED", "createdAt": "soon"}
    client, _ = make_client(api)
    states = run_states(client, {"run_a": None, "run_b": None, "run_c": None})
    assert isinstance(states["run_a"], RunState) and isinstance(states["run_c"], RunState)
    assert isinstance(states["run_b"], Unavailable) and "'createdAt'" in states["run_b"].reason

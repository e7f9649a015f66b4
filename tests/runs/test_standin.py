"""The trigger.dev stand-in (telemetry/runs/standin.py) behaves as TRIGGER_API.md says.

A raw ``http.client`` client, so these tests check the server, not our API client.
"""

from __future__ import annotations

import base64
import http.client
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest

from clocks import FrozenClock
from telemetry.runs.standin import (
    API_VERSION,
    LEGACY_STATUSES,
    LIST_OMITS,
    STATUSES,
    TriggerStandIn,
    iso,
    make_run,
)

NOW = datetime.now(UTC)
AGO = {
    "run_new": timedelta(minutes=1),
    "run_fail": timedelta(hours=2),
    "run_wait": timedelta(hours=3),
    "run_deq": timedelta(days=1),
    "run_test": timedelta(days=2),
    "run_old": timedelta(days=8),
    "run_ancient": timedelta(days=13),
}
BOOM = {"message": "Card declined", "name": "StripeCardError", "stackTrace": "at charge()"}
STRIPE = "stripe-payment-intent-succeeded"


def _runs() -> list[dict[str, Any]]:
    def at(run_id: str) -> datetime:
        return NOW - AGO[run_id]

    return [
        make_run("run_new", created_at=at("run_new"), tags=["org_1"]),
        make_run(
            "run_fail",
            status="FAILED",
            task=STRIPE,
            created_at=at("run_fail"),
            tags=["org_2", "payment"],
            error=BOOM,
        ),
        make_run("run_wait", status="WAITING", created_at=at("run_wait")),
        make_run("run_deq", status="DEQUEUED", created_at=at("run_deq")),
        make_run("run_test", created_at=at("run_test"), is_test=True),
        make_run("run_old", created_at=at("run_old")),
        make_run("run_ancient", status="FAILED", created_at=at("run_ancient")),
    ]


@pytest.fixture
def api() -> Iterator[TriggerStandIn]:
    with TriggerStandIn(_runs()) as standin:
        yield standin


class Reply:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    api: TriggerStandIn,
    path: str,
    query: dict[str, str] | None = None,
    *,
    key: str | None = "",
    version: bool = True,
    timeout: float = 5.0,
) -> Reply:
    """GET ``path`` with the stand-in's key (``key=None``: no header; other: that key)."""
    headers = {}
    if key is not None:
        headers["Authorization"] = f"Bearer {key or api.key}"
    if version:
        headers["x-trigger-api-version"] = API_VERSION
    target = path + ("?" + urlencode(query) if query else "")
    conn = http.client.HTTPConnection(urlsplit(api.url).netloc, timeout=timeout)
    try:
        conn.request("GET", target, headers=headers)
        response = conn.getresponse()
        return Reply(
            response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        )
    finally:
        conn.close()


def ids(reply: Reply) -> list[str]:
    assert reply.status == 200, reply.body
    return [item["id"] for item in reply.json()["data"]]


# -- authentication ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", [None, "tr_dev_wrong", "tr_prod_standin"])
def test_missing_or_wrong_key_is_401_with_json_error(api: TriggerStandIn, key: str | None) -> None:
    """No key, or another key, is a 401 with a JSON ``error`` on every route."""
    for path in ("/api/v3/runs/run_new", "/api/v1/runs"):
        reply = call(api, path, key=key)
        assert reply.status == 401
        assert isinstance(reply.json()["error"], str)


def test_the_right_key_is_accepted_and_env_follows_its_prefix() -> None:
    """A custom key works, and list items name the environment its prefix implies."""
    with TriggerStandIn([make_run("run_a")], key="tr_prod_abc") as standin:
        item = call(standin, "/api/v1/runs").json()["data"][0]
    assert item["env"]["name"] == "prod"
    assert item["env"]["id"].startswith("env_")


# -- retrieve ---------------------------------------------------------------------------------

RUN_FIELDS = {
    "id",
    "status",
    "taskIdentifier",
    "idempotencyKey",
    "version",
    "region",
    "taskKind",
    "isQueued",
    "isExecuting",
    "isWaiting",
    "isCompleted",
    "isSuccess",
    "isFailed",
    "isCancelled",
    "isTest",
    "createdAt",
    "updatedAt",
    "startedAt",
    "finishedAt",
    "tags",
    "costInCents",
    "baseCostInCents",
    "durationMs",
    "metadata",
    "depth",
    "triggerFunction",
    "payload",
    "error",
    "relatedRuns",
    "attemptCount",
}


def test_retrieve_returns_the_run_object(api: TriggerStandIn) -> None:
    """A known run comes back whole (§2), error and times included."""
    reply = call(api, "/api/v3/runs/run_fail")
    assert reply.status == 200
    assert reply.headers["content-type"] == "application/json"
    run = reply.json()
    assert run.keys() >= RUN_FIELDS
    assert (run["id"], run["status"], run["taskIdentifier"]) == ("run_fail", "FAILED", STRIPE)
    assert run["error"] == BOOM
    assert run["createdAt"] == iso(NOW - AGO["run_fail"])
    assert run["isFailed"] and run["isCompleted"] and not run["isSuccess"]


def test_retrieve_unknown_run_is_404_with_should_retry(api: TriggerStandIn) -> None:
    """An unknown run ID is 404 ``{"error": "Not found"}`` with ``x-should-retry: true``."""
    reply = call(api, "/api/v3/runs/run_elsewhere")
    assert reply.status == 404
    assert reply.json() == {"error": "Not found"}
    assert reply.headers["x-should-retry"] == "true"


def test_add_serves_new_runs_and_replaces_known_ones(api: TriggerStandIn) -> None:
    """``add`` makes a run retrievable, or replaces one with the same ID."""
    api.add(make_run("run_added", status="QUEUED"), make_run("run_new", status="CANCELED"))
    assert call(api, "/api/v3/runs/run_added").json()["status"] == "QUEUED"
    assert call(api, "/api/v3/runs/run_new").json()["status"] == "CANCELED"


# -- version header and statuses --------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "legacy"),
    [
        ("DEQUEUED", "EXECUTING"),
        ("WAITING", "FROZEN"),
        ("COMPLETED", "COMPLETED"),
        ("PENDING_VERSION", "PENDING_VERSION"),
        ("TIMED_OUT", "TIMED_OUT"),
    ],
)
def test_status_depends_on_the_version_header(status: str, legacy: str) -> None:
    """With the header the current status; without it the legacy name (retrieve and list)."""
    with TriggerStandIn([make_run("run_s", status=status)]) as standin:
        for version, expected in ((True, status), (False, legacy)):
            one = call(standin, "/api/v3/runs/run_s", version=version).json()
            listed = call(standin, "/api/v1/runs", version=version).json()["data"]
            assert one["status"] == listed[0]["status"] == expected
    assert status in STATUSES and legacy in LEGACY_STATUSES


def test_status_sets_match_section_3() -> None:
    """The current set is §3's thirteen; the legacy one adds four and lacks two."""
    assert len(STATUSES) == len(set(STATUSES)) == 13
    assert set(LEGACY_STATUSES) - set(STATUSES) == {
        "WAITING_FOR_DEPLOY",
        "REATTEMPTING",
        "FROZEN",
        "INTERRUPTED",
    }
    assert set(STATUSES) - set(LEGACY_STATUSES) == {"DEQUEUED", "WAITING"}


# -- list -------------------------------------------------------------------------------------


def test_list_is_newest_first_without_heavy_fields(api: TriggerStandIn) -> None:
    """The list covers the last 7 days, newest first; items lack §4's fields and carry env."""
    reply = call(api, "/api/v1/runs")
    assert ids(reply) == ["run_new", "run_fail", "run_wait", "run_deq", "run_test"]
    for item in reply.json()["data"]:
        assert not LIST_OMITS & item.keys()
        assert set(item["env"]) == {"id", "name"}
        assert {"id", "status", "createdAt", "durationMs", "tags"} <= item.keys()
    assert reply.json()["pagination"] == {}


def _ms(delta: timedelta) -> str:
    return str(int((NOW - delta).timestamp() * 1000))


FILTERS = [
    ({"filter[status]": "FAILED"}, ["run_fail"]),
    ({"filter[status]": "FAILED", "filter[createdAt][period]": "14d"}, ["run_fail", "run_ancient"]),
    ({"filter[status]": "COMPLETED,WAITING"}, ["run_new", "run_wait", "run_test"]),
    ({"filter[status]": "EXECUTING,FROZEN"}, []),  # legacy names: accepted, not shown here
    ({"filter[taskIdentifier]": STRIPE}, ["run_fail"]),
    ({"filter[taskIdentifier]": f"nope,{STRIPE}"}, ["run_fail"]),
    ({"filter[tag]": "payment"}, ["run_fail"]),
    ({"filter[tag]": "org_1,org_2"}, ["run_new", "run_fail"]),
    ({"filter[isTest]": "true"}, ["run_test"]),
    ({"filter[isTest]": "false"}, ["run_new", "run_fail", "run_wait", "run_deq"]),
    ({"filter[createdAt][from]": iso(NOW - timedelta(minutes=150))}, ["run_new", "run_fail"]),
    (
        {
            "filter[createdAt][from]": _ms(timedelta(days=9)),
            "filter[createdAt][to]": _ms(timedelta(days=7)),
        },
        ["run_old"],
    ),
    ({"filter[createdAt][to]": iso(NOW - timedelta(days=7))}, ["run_old", "run_ancient"]),
    ({"filter[createdAt][period]": "90m"}, ["run_new"]),
    (
        {"filter[createdAt][period]": "1h", "filter[createdAt][from]": _ms(AGO["run_ancient"])},
        ["run_new"],
    ),
    ({"filter[createdAt][period]": "2w"}, list(AGO)),
]


@pytest.mark.parametrize(("query", "expected"), FILTERS)
def test_list_filters(api: TriggerStandIn, query: dict[str, str], expected: list[str]) -> None:
    """Each filter of §4 selects the runs it names; a period overrides from/to."""
    assert ids(call(api, "/api/v1/runs", query)) == expected


def test_raw_brackets_in_the_query_work_too(api: TriggerStandIn) -> None:
    """Unencoded ``filter[status]=…`` reads the same as the percent-encoded form."""
    assert ids(call(api, "/api/v1/runs?filter[status]=FAILED&page[size]=5")) == ["run_fail"]


@pytest.mark.parametrize(
    "query",
    [
        {"page[size]": "0"},
        {"page[size]": "101"},
        {"page[size]": "ten"},
        {"filter[status]": "COMPLETED,DONE"},
        {"filter[isTest]": "yes"},
        {"filter[createdAt][period]": "a week"},
        {"filter[createdAt][from]": "yesterday"},
        {"page[after]": "run_new"},
        {"page[before]": "bm90IGEgY3Vyc29y"},
    ],
)
def test_bad_list_queries_are_400(api: TriggerStandIn, query: dict[str, str]) -> None:
    """Out-of-range sizes, unknown statuses and bad values or cursors are a 400 with ``error``."""
    reply = call(api, "/api/v1/runs", query)
    assert reply.status == 400
    assert reply.json()["error"]


@pytest.mark.parametrize(("size", "expected"), [(None, 25), ("1", 1), ("100", 100)])
def test_page_size_default_and_bounds(size: str | None, expected: int) -> None:
    """25 by default; 1 and 100 are accepted."""
    runs = [make_run(f"run_{n:03d}", created_at=NOW - timedelta(minutes=n)) for n in range(120)]
    with TriggerStandIn(runs) as standin:
        query = {"page[size]": size} if size else None
        reply = call(standin, "/api/v1/runs", query)
    assert ids(reply) == [f"run_{n:03d}" for n in range(expected)]
    assert "next" in reply.json()["pagination"]


def test_cursors_round_trip_and_are_opaque() -> None:
    """``next`` then ``previous`` walk the pages; a before-page is oldest first; no run IDs."""
    runs = [make_run(f"run_{n:03d}", created_at=NOW - timedelta(minutes=n)) for n in range(7)]
    with TriggerStandIn(runs) as standin:

        def page(**query: str) -> dict[str, Any]:
            reply = call(standin, "/api/v1/runs", {"page[size]": "3", **query})
            assert reply.status == 200
            return reply.json()

        first = page()
        second = page(**{"page[after]": first["pagination"]["next"]})
        third = page(**{"page[after]": second["pagination"]["next"]})
        back = page(**{"page[before]": second["pagination"]["previous"]})

    def names(body: dict[str, Any]) -> list[str]:
        return [item["id"] for item in body["data"]]

    assert names(first) == ["run_000", "run_001", "run_002"]
    assert names(second) == ["run_003", "run_004", "run_005"]
    assert names(third) == ["run_006"]
    assert names(back) == ["run_002", "run_001", "run_000"]  # oldest first
    assert set(first["pagination"]) == {"next"}
    assert set(second["pagination"]) == {"next", "previous"}
    assert set(third["pagination"]) == {"previous"}
    assert set(back["pagination"]) == {"next"}
    cursors = [c for body in (first, second, third, back) for c in body["pagination"].values()]
    for cursor in cursors:
        decoded = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        assert "run_" not in cursor and b"run_" not in decoded


# -- rate limit -------------------------------------------------------------------------------


def test_rate_limit_headers_on_every_response(api: TriggerStandIn) -> None:
    """200, 400, 401 and 404 answers all carry the three x-ratelimit headers."""
    replies = [
        call(api, "/api/v1/runs"),
        call(api, "/api/v1/runs", {"page[size]": "0"}),
        call(api, "/api/v3/runs/run_new", key="tr_dev_wrong"),
        call(api, "/api/v3/runs/run_nope"),
    ]
    assert [reply.status for reply in replies] == [200, 400, 401, 404]
    for reply in replies:
        assert reply.headers["x-ratelimit-limit"] == "750"
        assert int(reply.headers["x-ratelimit-remaining"]) < 750
        assert int(reply.headers["x-ratelimit-reset"]) > 1_700_000_000_000  # Unix ms
    # The wrong key has a bucket of its own: the right key spent three tokens.
    assert replies[3].headers["x-ratelimit-remaining"] == "747"


def test_rate_limit_429_then_refill() -> None:
    """Once the burst is spent: 429 problem+json with §5's keys; the refill lets requests in."""
    clock = FrozenClock(0.0)
    with TriggerStandIn(
        [make_run("run_a")], burst=5, refill=2, refill_seconds=0.5, clock=clock
    ) as s:
        remaining = [
            call(s, "/api/v3/runs/run_a").headers["x-ratelimit-remaining"] for _ in range(5)
        ]
        refused = call(s, "/api/v3/runs/run_a")
        clock.now += 0.4
        still = call(s, "/api/v3/runs/run_a")
        clock.now += 0.1
        refilled = [call(s, "/api/v3/runs/run_a") for _ in range(3)]
        clock.now += 10
        full = call(s, "/api/v3/runs/run_a")
    assert remaining == ["4", "3", "2", "1", "0"]
    assert refused.status == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert set(body) >= {
        "title",
        "status",
        "detail",
        "reset",
        "limit",
        "remaining",
        "secondsUntilReset",
        "error",
    }
    assert (body["title"], body["status"], body["limit"], body["remaining"]) == (
        "Rate Limit Exceeded",
        429,
        5,
        0,
    )
    assert body["reset"] == int(refused.headers["x-ratelimit-reset"])
    assert still.status == 429
    assert [r.status for r in refilled] == [200, 200, 429]
    assert full.status == 200 and full.headers["x-ratelimit-remaining"] == "4"
    assert s.count() == 11


# -- switches ---------------------------------------------------------------------------------


def test_fail_5xx_answers_the_next_n_requests_with_server_errors(api: TriggerStandIn) -> None:
    """``fail_5xx = 3`` gives 500, 502, 503 (JSON bodies), then normal answers again."""
    api.fail_5xx = 3
    replies = [call(api, "/api/v3/runs/run_new") for _ in range(4)]
    assert [reply.status for reply in replies] == [500, 502, 503, 200]
    assert all(reply.json()["error"] for reply in replies[:3])
    assert api.fail_5xx == 0
    assert [seen.status for seen in api.requests] == [500, 502, 503, 200]


def test_malformed_answers_200_with_a_body_that_is_not_json(api: TriggerStandIn) -> None:
    """``malformed = 2``: two 200s whose bodies do not parse, then normal answers."""
    api.malformed = 2
    replies = [call(api, "/api/v1/runs") for _ in range(3)]
    assert [reply.status for reply in replies] == [200, 200, 200]
    for reply in replies[:2]:
        with pytest.raises(json.JSONDecodeError):
            reply.json()
    assert ids(replies[2])[0] == "run_new"


def test_slow_makes_a_short_client_timeout_expire(api: TriggerStandIn) -> None:
    """With ``slow`` set a client that waits less times out; with it off the answer comes."""
    api.slow = 1.0
    with pytest.raises(TimeoutError):
        call(api, "/api/v3/runs/run_new", timeout=0.05)
    api.slow = 0
    assert call(api, "/api/v3/runs/run_new").status == 200


def test_requests_are_recorded_with_query_headers_and_status(api: TriggerStandIn) -> None:
    """``requests`` keeps method, path, parsed query, lower-case headers, status; ``count`` sums."""
    call(api, "/api/v1/runs", {"filter[status]": "FAILED,CRASHED", "page[size]": "5"})
    call(api, "/api/v3/runs/run_new")
    call(api, "/api/v3/runs/run_nope", version=False)
    first = api.requests[0]
    assert (first.method, first.path, first.status) == ("GET", "/api/v1/runs", 200)
    assert first.query == {"filter[status]": ["FAILED,CRASHED"], "page[size]": ["5"]}
    assert first.headers["authorization"] == f"Bearer {api.key}"
    assert first.headers["x-trigger-api-version"] == API_VERSION
    assert "x-trigger-api-version" not in api.requests[2].headers
    assert api.requests[2].status == 404
    assert (api.count(), api.count("/api/v3/runs/"), api.count("/api/v1/")) == (3, 2, 1)


# -- make_run ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "flags", "started", "finished"),
    [
        ("QUEUED", {"isQueued"}, False, False),
        ("DELAYED", {"isQueued"}, False, False),
        ("DEQUEUED", {"isExecuting"}, True, False),
        ("EXECUTING", {"isExecuting"}, True, False),
        ("WAITING", {"isWaiting"}, True, False),
        ("COMPLETED", {"isCompleted", "isSuccess"}, True, True),
        ("FAILED", {"isCompleted", "isFailed"}, True, True),
        ("CANCELED", {"isCompleted", "isCancelled"}, True, True),
        ("TIMED_OUT", {"isFailed"}, True, True),
        ("EXPIRED", {"isFailed"}, False, True),
    ],
)
def test_make_run_flags_and_times_follow_the_status(
    status: str, flags: set[str], started: bool, finished: bool
) -> None:
    """The is* flags and startedAt/finishedAt fit the status (isCompleted false: TIMED_OUT)."""
    run = make_run("run_x", status=status, created_at=NOW - timedelta(hours=1))
    true = {name for name, value in run.items() if name.startswith("is") and value is True}
    assert true == flags
    assert ("startedAt" in run, "finishedAt" in run) == (started, finished)
    assert run["createdAt"].endswith("Z") and run["updatedAt"].endswith("Z")


def test_make_run_takes_explicit_values_and_extras() -> None:
    """Explicit times, duration, error, relations and extra fields end up in the object."""
    created = datetime(2026, 11, 20, 10, 15, tzinfo=UTC)
    run = make_run(
        "run_child",
        status="CRASHED",
        task=STRIPE,
        created_at=created,
        started_at=created + timedelta(seconds=2),
        finished_at=created + timedelta(seconds=9),
        duration_ms=1234,
        attempt_count=3,
        is_test=True,
        tags=("org_9",),
        error={"message": "boom"},
        root="run_root",
        parent="run_parent",
        metadata={"entity": "pym_1"},
    )
    assert run["createdAt"] == "2026-11-20T10:15:00.000Z"
    assert run["startedAt"] == "2026-11-20T10:15:02.000Z"
    assert run["finishedAt"] == run["updatedAt"] == "2026-11-20T10:15:09.000Z"
    assert (run["durationMs"], run["attemptCount"], run["isTest"]) == (1234, 3, True)
    assert run["tags"] == ["org_9"] and run["error"] == {"message": "boom"}
    assert run["relatedRuns"]["root"]["id"] == "run_root"
    assert run["relatedRuns"]["parent"]["id"] == "run_parent"
    assert "payload" not in run["relatedRuns"]["parent"]
    assert run["depth"] == 2 and run["metadata"] == {"entity": "pym_1"}
    assert "payload" in run and "error" not in make_run("run_ok")

"""The stand-in answers the same in-process (``transport()``, demo mode) as over HTTP (tests)."""

from __future__ import annotations

import httpx
import pytest

from telemetry.runs.standin import API_VERSION, TriggerStandIn, make_run

RUNS = [make_run("run_a", status="FAILED", error={"message": "boom"}), make_run("run_b")]


@pytest.mark.parametrize(
    ("path", "params", "bearer"),
    [
        ("/api/v3/runs/run_a", {}, "tr_dev_standin"),
        ("/api/v3/runs/run_missing", {}, "tr_dev_standin"),
        ("/api/v3/runs/run_a", {}, "tr_dev_wrong"),
        ("/api/v1/runs", {"page[size]": "1"}, "tr_dev_standin"),
        ("/api/v1/runs", {"page[size]": "0"}, "tr_dev_standin"),
        ("/api/v1/runs", {"filter[status]": "FAILED"}, "tr_dev_standin"),
    ],
)
def test_transport_and_http_answer_alike(path: str, params: dict, bearer: str) -> None:
    """Status, body and content type match between the two ways of serving."""
    headers = {"Authorization": f"Bearer {bearer}", "x-trigger-api-version": API_VERSION}
    with TriggerStandIn(RUNS) as served:
        over_http = httpx.get(served.url + path, params=params, headers=headers)
    in_process = httpx.Client(transport=TriggerStandIn(RUNS).transport()).get(
        "https://api.example.invalid" + path, params=params, headers=headers
    )
    assert in_process.status_code == over_http.status_code
    assert in_process.headers["content-type"] == over_http.headers["content-type"]
    assert "x-ratelimit-remaining" in in_process.headers
    if path.startswith("/api/v3"):
        assert in_process.json() == over_http.json()
    else:  # cursors are salted per stand-in; the runs are the same
        pick = lambda body: [run["id"] for run in body.get("data", [])]  # noqa: E731
        assert pick(in_process.json()) == pick(over_http.json())


def test_transport_records_requests_and_switches() -> None:
    """``requests`` and the ``malformed`` switch work in-process too."""
    standin = TriggerStandIn(RUNS)
    client = httpx.Client(transport=standin.transport())
    standin.malformed = 1
    headers = {"Authorization": f"Bearer {standin.key}"}
    first = client.get("https://x.invalid/api/v3/runs/run_b", headers=headers)
    second = client.get("https://x.invalid/api/v3/runs/run_b", headers=headers)
    assert first.status_code == 200
    with pytest.raises(ValueError):
        first.json()
    assert second.json()["id"] == "run_b"
    assert standin.count("/api/v3/runs/") == 2

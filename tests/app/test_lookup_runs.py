"""AppTest: the Lookup page's run state from trigger.dev (issue #14 § Lookup, § Everywhere).

The app reads Redis (the session redis-server) and the API stand-in (``trigger_env``:
a real HTTP server on a free port, TRIGGER_API_URL / TRIGGER_SECRET_KEY pointing at it).
Every fault is driven through the stand-in's switches or the environment; the Redis
facts must still show, the key never.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
import redis

from apptest_support import (
    NOW,
    make_app,
    no_exception,
    page_text,
    put,
    shown,
    tree_nodes,
    use_demo,
)
from telemetry.runs import TriggerClient
from telemetry.runs.standin import _Answer, make_run
from ui import runs
from ui.format import record_text
from ui.run_panel import NOT_IN_ENVIRONMENT_TEXT

PYM = "pym_RunState0000000000001"
RUN = "run_runstate00000000000000001"
ORG = "org_RunState0000000000001"
RETRIEVE = "/api/v3/runs/"
HOSTILE_MESSAGE = "**x** <b>y</b> :smile: [a](http://e) -> www.evil.example a@b.co"
HOSTILE_NAME = "Err:material/warning:`x`"
STACK = "Error: **x** <b>y</b>\n    at charge (src/trigger/billing.ts:88:13)\n    at :smile:"


@pytest.fixture
def api(real_redis: redis.Redis, trigger_env: Any) -> Any:
    """A found payment record in Redis, and the stand-in the app is pointed at."""
    put(real_redis, "payment", PYM, RUN, org=ORG, timestamp=NOW - timedelta(hours=2))
    return trigger_env


@pytest.fixture
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """The client's retry backoff cut to 10 ms (the retries themselves still happen)."""
    monkeypatch.setattr(runs, "TriggerClient", partial(TriggerClient, backoff_seconds=0.01))


def lookup(value: str = PYM) -> Any:
    return make_app(query={"id": value})


def panel(at: Any) -> str:
    """The run-state Markdown of the page (exactly one)."""
    bodies = [m.value for m in at.markdown if m.value.startswith("**Run state**")]
    assert len(bodies) == 1, [m.value for m in at.markdown]
    return bodies[0]


def everything(at: Any) -> str:
    """Every element's protobuf on the page, as text: labels, help, URLs, bodies."""
    return "\n".join(str(getattr(node, "proto", "")) for node in tree_nodes(at))


def redis_facts_shown(at: Any) -> None:
    assert [b.proto.url for b in at.link_button] == [f"https://cloud.trigger.dev/runs/{RUN}"]
    facts = next(m.value for m in at.markdown if m.value.startswith("**Entity**"))
    assert record_text(ORG, code=True) in facts


def test_completed_run_shows_status_task_times_duration_and_attempts(api: Any) -> None:
    """A completed run: green badge, task, created/started/finished, duration, attempts, tags."""
    created = NOW - timedelta(hours=2, seconds=30)
    api.add(
        make_run(
            RUN,
            task="attempt-billing-run",
            created_at=created,
            duration_ms=12_345,
            attempt_count=2,
            tags=["org_x", "billing"],
        )
    )
    at = lookup()
    no_exception(at)
    body = panel(at)
    assert ":green-badge[:material/check_circle: COMPLETED]" in body
    assert "**Task** `attempt-billing-run`" in body
    assert f"**Created** {created.strftime('%Y-%m-%d %H:%M:%S UTC')} · 2 h ago" in body
    assert "**Started** 20" in body and "**Finished** 20" in body
    assert "**Duration** 12.3 s" in body
    assert "**Attempts** 2" in body and "**Test run** no" in body
    assert "**Tags** `org_x`, `billing`" in body
    assert "as of " in body and " UTC (0 s ago)" in body
    assert "**Error**" not in body
    assert not at.main.expander  # no stack trace, no expander
    assert any(b.label == "Refresh" for b in at.button)
    redis_facts_shown(at)
    assert api.count(RETRIEVE) == 1
    assert api.key not in everything(at)


def test_failed_run_shows_error_as_exact_text_and_the_stack_trace_folded(api: Any) -> None:
    """A failed run: red badge, the error's name and message escaped (never Markdown/HTML/
    emoji/links), the stack trace exact in a closed expander, links to parent and root."""
    api.add(
        make_run(
            RUN,
            status="FAILED",
            attempt_count=3,
            error={"name": HOSTILE_NAME, "message": HOSTILE_MESSAGE, "stackTrace": STACK},
            parent="run_parent000000000000000001",
            root="run_root00000000000000000001",
        )
    )
    at = lookup()
    no_exception(at)
    body = panel(at)
    assert ":red-badge[:material/error: FAILED]" in body
    lines = body.split("  \n")
    error = next(line for line in lines if line.startswith("**Error**"))
    assert error == (
        f"**Error** {record_text(HOSTILE_NAME, code=True)} — {record_text(HOSTILE_MESSAGE)}"
    )
    assert HOSTILE_MESSAGE in shown(error)  # what a reader sees is the exact message
    for raw in ("**x**", "<b>", "[a](", "http://e", ":material/"):
        assert raw not in error
    # Streamlit's emoji, autolink and arrow plugins see the text between the seams, decoded.
    for node in (re.sub(r"\\(.)", r"\1", piece) for piece in error.split(":small[]")):
        for trigger in (":smile:", "http://", "www.", "a@b", " -> "):
            assert trigger not in node
    assert "[`run_parent000000000000000001`]" in body
    assert "(<https://cloud.trigger.dev/runs/run_parent000000000000000001>)" in body
    assert "(<https://cloud.trigger.dev/runs/run_root00000000000000000001>)" in body
    assert [e.label for e in at.main.expander] == ["Stack trace"]
    assert not at.main.expander[0].proto.expanded
    assert [c.value for c in at.main.expander[0].code] == [STACK]
    redis_facts_shown(at)


def test_a_rerun_within_the_ttl_asks_no_more_and_refresh_asks_again(api: Any) -> None:
    """One request per lookup; reruns reuse it; the refresh button forgets it."""
    api.add(make_run(RUN, status="EXECUTING"))
    at = lookup()
    assert ":blue-badge[:material/sync: EXECUTING]" in panel(at)
    assert "**Finished** —" in panel(at)
    at.run()
    at.text_input(key="id").set_value(f"payment:{PYM}").run()  # same run, another paste
    no_exception(at)
    assert api.count(RETRIEVE) == 1
    api.add(make_run(RUN, status="COMPLETED"))
    next(b for b in at.button if b.label == "Refresh").click().run()
    no_exception(at)
    assert api.count(RETRIEVE) == 2
    assert "COMPLETED]" in panel(at)


def test_a_failure_is_reused_only_briefly(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed answer is reused for a rerun right after, then asked again once it is stale."""
    api.add(make_run(RUN))
    api.malformed = 1
    at = lookup()
    assert "Run state unavailable" in page_text(at)
    at.run()
    assert api.count(RETRIEVE) == 1  # a rerun within FAILURE_TTL_SECONDS asks nothing
    monkeypatch.setattr(runs, "FAILURE_TTL_SECONDS", 0.0)
    at.run()
    no_exception(at)
    assert api.count(RETRIEVE) == 2
    assert "COMPLETED]" in panel(at)


def test_a_404_says_the_run_is_not_in_this_environment(api: Any) -> None:
    """The API does not know the run: a clear message, not an error; the record still shows."""
    at = lookup()
    no_exception(at)
    assert [i.value.split("  \n")[0] for i in at.info] == [NOT_IN_ENVIRONMENT_TEXT]
    assert "may belong to another environment (prod/staging/dev)" in page_text(at)
    redis_facts_shown(at)
    assert api.count(RETRIEVE) == 1


def test_an_unknown_status_is_shown_exactly_as_given(api: Any) -> None:
    """A status the app does not know: a grey "unknown status" badge and the value as sent."""
    api.add(make_run(RUN, status="SOMETHING_NEW"))
    at = lookup()
    no_exception(at)
    assert ":gray-badge[:material/help: unknown status:] `SOMETHING_NEW`" in panel(at)


def _down(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api.stop()


def _slow(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runs, "PAGE_READ_TIMEOUT", 0.2)
    api.slow = 1.0


def _wrong_key(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIGGER_SECRET_KEY", "tr_dev_not_the_right_key_42")


def _forbidden(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # The stand-in has no 403 switch: every request answers as a restricted token would.
    body = b'{"error": "Forbidden"}'
    answer = _Answer(403, body, {"content-type": "application/json"})
    monkeypatch.setattr(api, "_answer", lambda seen: answer)


def _rate_limited_long(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api.burst, api.refill, api.refill_seconds = 0, 0, 3600.0


def _rate_limit_storm(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api.burst, api.refill, api.refill_seconds = 0, 0, 0.1


def _server_errors(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api.fail_5xx = 100


def _malformed(api: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    api.malformed = 100


FAULTS: list[tuple[str, Callable[[Any, pytest.MonkeyPatch], None], str]] = [
    ("down", _down, "cannot be reached (ConnectError)"),
    ("slow", _slow, "did not answer in time (ReadTimeout)"),
    ("401", _wrong_key, "TRIGGER_SECRET_KEY was refused (401)"),
    ("403", _forbidden, "may not read run " + RUN + " (403 forbidden)"),
    ("429 long reset", _rate_limited_long, "answered 429 (rate limit) for run"),
    ("429 storm", _rate_limit_storm, "kept answering 429 (rate limit)"),
    ("5xx", _server_errors, "the API is down or slow"),
    ("malformed", _malformed, "with something that is not JSON"),
]


@pytest.mark.parametrize(
    ("make_fault", "message"), [(f, m) for _, f, m in FAULTS], ids=[n for n, _, _ in FAULTS]
)
def test_each_api_fault_is_a_clear_warning_and_the_redis_facts_still_show(
    api: Any,
    fast_retries: None,
    monkeypatch: pytest.MonkeyPatch,
    make_fault: Callable[[Any, pytest.MonkeyPatch], None],
    message: str,
) -> None:
    """API down, slow, 401, 403, 429 (long reset, storm), 5xx, malformed JSON: a warning
    naming the cause, within a bounded wait; the Redis answer intact; the key never shown."""
    api.add(make_run(RUN, status="FAILED"))
    make_fault(api, monkeypatch)
    started = time.monotonic()
    at = lookup()
    elapsed = time.monotonic() - started
    no_exception(at)
    warnings = [shown(w.value) for w in at.warning]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("**Run state unavailable** — ")
    assert message in warnings[0]
    assert any(b.label == "Try again" for b in at.button)
    redis_facts_shown(at)
    rendered = everything(at)
    assert api.key not in rendered and "tr_dev_not_the_right_key_42" not in rendered
    assert elapsed < 15, f"the page waited {elapsed:.1f} s for trigger.dev"


def test_without_a_key_outside_demo_mode_there_is_no_panel_and_no_request(
    real_redis: redis.Redis, trigger_api: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run state off (REDIS_URL set, no TRIGGER_SECRET_KEY): the page as before, no request."""
    put(real_redis, "payment", PYM, RUN, org=ORG, timestamp=NOW - timedelta(hours=2))
    monkeypatch.setenv("TRIGGER_API_URL", trigger_api.url)
    trigger_api.add(make_run(RUN))
    at = lookup()
    no_exception(at)
    assert not [m for m in at.markdown if m.value.startswith("**Run state**")]
    assert not at.info and not at.warning
    redis_facts_shown(at)
    assert trigger_api.count() == 0


def test_an_unlinkable_run_id_is_not_asked_for(api: Any, real_redis: redis.Redis) -> None:
    """A record whose runId is not ``run_…`` cannot be a trigger.dev run: no request."""
    put(real_redis, "payment", "pym_oddrun1", "not-a-run-id")
    at = lookup("pym_oddrun1")
    no_exception(at)
    assert not [m for m in at.markdown if m.value.startswith("**Run state**")]
    assert api.count() == 0


def test_demo_mode_shows_the_run_state_of_a_demo_id(monkeypatch: pytest.MonkeyPatch) -> None:
    """No REDIS_URL and no key: a found demo ID shows its run from the embedded stand-in."""
    use_demo(monkeypatch)
    at = make_app()
    at.pills(key="lookup_example_pick").set_value("payment").run()
    no_exception(at)
    assert at.text_input(key="id").value.startswith("pym_")
    body = panel(at)
    assert "**Task** `" in body and "badge[:material/" in body

"""``ui.run_panel``'s Markdown: status badges, durations, the as-of time, related-run links."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from telemetry.runs import FAILED_STATUSES, KNOWN_STATUSES, RunState
from ui.format import record_text
from ui.run_panel import (
    as_of_text,
    duration_text,
    run_link,
    state_markdown,
    status_badge,
    unavailable_markdown,
)

TEMPLATE = "https://cloud.trigger.dev/runs/{run_id}"
UNKNOWN = ":gray-badge[:material/help: unknown status:] "
AS_OF = datetime(2026, 11, 20, 10, 15, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("status", "badge"),
    [
        ("COMPLETED", ":green-badge[:material/check_circle: COMPLETED]"),
        ("FAILED", ":red-badge[:material/error: FAILED]"),
        ("TIMED_OUT", ":red-badge[:material/error: TIMED_OUT]"),
        ("CANCELED", ":red-badge[:material/error: CANCELED]"),
        ("EXECUTING", ":blue-badge[:material/sync: EXECUTING]"),
        ("DEQUEUED", ":blue-badge[:material/sync: DEQUEUED]"),
        ("QUEUED", ":orange-badge[:material/schedule: QUEUED]"),
        ("WAITING", ":orange-badge[:material/schedule: WAITING]"),
        ("SOMETHING_NEW", UNKNOWN + "`SOMETHING_NEW`"),
        ("FROZEN", UNKNOWN + "`FROZEN`"),  # legacy set
        ("**x** :smile:]", UNKNOWN + record_text("**x** :smile:]", code=True)),
    ],
)
def test_status_badge_colours_by_outcome_and_shows_unknown_values_as_given(
    status: str, badge: str
) -> None:
    """Green success, red failures, blue running, orange waiting, grey unknown (exact text)."""
    assert status_badge(status) == badge


def test_every_known_status_has_a_coloured_badge() -> None:
    """No status of the current set falls through to "unknown status"."""
    for status in KNOWN_STATUSES:
        assert "unknown status" not in status_badge(status)
        assert status_badge(status).startswith(":red-badge[") == (status in FAILED_STATUSES)


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (None, "—"),
        (0, "0 ms"),
        (850, "850 ms"),
        (1_000, "1.0 s"),
        (12_345, "12.3 s"),
        (59_999, "60.0 s"),
        (60_000, "1 min 00 s"),
        (245_000, "4 min 05 s"),
        (7_380_000, "2 h 03 min"),
    ],
)
def test_duration_text(ms: int | None, text: str) -> None:
    """Milliseconds as people read them."""
    assert duration_text(ms) == text


@pytest.mark.parametrize(
    ("now", "text"),
    [
        (AS_OF, "as of 10:15:00 UTC (0 s ago)"),
        (AS_OF + 12.9, "as of 10:15:00 UTC (12 s ago)"),
        (AS_OF - 1, "as of 10:15:00 UTC (0 s ago)"),  # a clock step back is not "-1 s"
    ],
)
def test_as_of_text(now: float, text: str) -> None:
    """When trigger.dev was asked, in UTC, and how long ago."""
    assert as_of_text(AS_OF, now) == text


@pytest.mark.parametrize(
    ("run_id", "markdown"),
    [
        ("run_abc123", "[`run_abc123`](<https://cloud.trigger.dev/runs/run_abc123>)"),
        ("run_a b", "`run_a b`"),  # not a run ID: never a link
        ("[x](http://e)", record_text("[x](http://e)", code=True)),
    ],
)
def test_run_link_links_only_run_ids(run_id: str, markdown: str) -> None:
    """Related runs link to the dashboard with the app's run-link rule; anything else is code."""
    assert run_link(run_id, TEMPLATE) == markdown


def test_state_markdown_of_a_failed_run_whole() -> None:
    """The whole panel Markdown of a failed run, line by line."""
    created = datetime(2026, 11, 20, 9, 0, 0, tzinfo=UTC)
    state = RunState(
        run_id="run_x1",
        status="FAILED",
        task_identifier="attempt-billing-run",
        created_at=created,
        started_at=created.replace(second=1),
        finished_at=created.replace(second=13),
        duration_ms=11_500,
        attempt_count=3,
        is_test=True,
        tags=("org_1", "a:b"),
        error_name="StripeCardError",
        error_message="Your card was declined. <b>x</b>",
        error_stack="ignored here",
        root_run_id="run_root1",
        parent_run_id="run_parent1",
    )
    assert state_markdown(state, as_of=AS_OF, now=AS_OF + 3, run_url_template=TEMPLATE).split(
        "  \n"
    ) == [
        "**Run state** :red-badge[:material/error: FAILED] · **Task** `attempt-billing-run` · "
        ":small[:gray[as of 10:15:00 UTC (3 s ago)]]",
        "**Created** 2026-11-20 09:00:00 UTC · 1 h ago",
        "**Started** 2026-11-20 09:00:01 UTC · 1 h ago",
        "**Finished** 2026-11-20 09:00:13 UTC · 1 h ago",
        "**Duration** 11.5 s :small[:gray[(compute time, waits not counted)]] · **Attempts** 3 · "
        "**Test run** yes · **Tags** `org_1`, `a:b`",
        f"**Error** `StripeCardError` — {record_text('Your card was declined. <b>x</b>')}",
        "**Parent run** [`run_parent1`](<https://cloud.trigger.dev/runs/run_parent1>) · "
        "**Root run** [`run_root1`](<https://cloud.trigger.dev/runs/run_root1>)",
    ]


def test_state_markdown_of_a_queued_run_has_no_times_duration_or_error() -> None:
    """A run that never started: dashes, not "0 ms"; no error or related-run lines."""
    state = RunState(run_id="run_q", status="QUEUED", duration_ms=0, attempt_count=None)
    lines = state_markdown(state, as_of=AS_OF, now=AS_OF, run_url_template=TEMPLATE).split("  \n")
    assert lines[1:4] == ["**Created** —", "**Started** —", "**Finished** —"]
    assert lines[4].startswith("**Duration** — ")
    assert "**Attempts** — · **Test run** — · **Tags** none" in lines[4]
    assert len(lines) == 5
    assert "**Task** —" in lines[0]


def test_unavailable_markdown_shows_the_reason_exactly() -> None:
    """The reason is record text; the as-of time follows."""
    reason = "trigger.dev at http://127.0.0.1:1 cannot be reached (ConnectError) — *try*"
    assert unavailable_markdown(reason, as_of=AS_OF, now=AS_OF) == (
        f"**Run state unavailable** — {record_text(reason, 2_000)}  \n"
        ":small[as of 10:15:00 UTC (0 s ago); the Redis record is shown as usual]"
    )

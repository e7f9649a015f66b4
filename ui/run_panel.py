"""One run's state from trigger.dev, as the pages show it (issue #14).

:func:`render` draws one ``RunOutcome`` (``RunState``, ``NotInEnvironment`` or
``Unavailable``): a bordered panel with the status badge, the facts and the
error in one Markdown element, the stack trace folded in an expander, and a
small refresh button. The Markdown is built by pure functions
(:func:`status_badge`, :func:`state_markdown`, …) so it is tested without
Streamlit, and any page can reuse them (a badge in a table caption, say).

Everything the API sent is untrusted text: it reaches Markdown only through
``record_text`` (exact text, never formatting), the stack trace only through
``st.code``. Links to related runs are built like every run link
(``telemetry.links.run_url`` with ``RUN_URL_TEMPLATE``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import streamlit as st

from telemetry.links import run_url
from telemetry.runs import FAILED_STATUSES, SUCCESS, RunOutcome, RunState, Unavailable
from telemetry.runs.model import NOT_FINISHED_STATUSES

from .format import ago, record_text, utc_text
from .runs import LOOKUP_TTL_SECONDS

# Running now (blue) versus waiting for something: a queue, a version, a delay (orange).
RUNNING_STATUSES: frozenset[str] = frozenset({"DEQUEUED", "EXECUTING"})
WAITING_STATUSES: frozenset[str] = NOT_FINISHED_STATUSES - RUNNING_STATUSES
# The error message can be long (a whole HTTP body); the stack trace has it all anyway.
MESSAGE_LIMIT = 2_000
NOT_IN_ENVIRONMENT_TEXT = (
    "**Not in this environment** — trigger.dev does not know this run in "
    "`TRIGGER_SECRET_KEY`'s environment — it may belong to another environment "
    "(prod/staging/dev)."
)
NOT_IN_DEMO_TEXT = (
    "**Not in this environment** — the demo's trigger.dev does not know this run: "
    "like a run of another environment (prod/staging/dev) would be, with a real key."
)


def status_badge(status: str) -> str:
    """A coloured Markdown badge for a run status; an unknown one is shown exactly as given."""
    if status == SUCCESS:
        return f":green-badge[:material/check_circle: {status}]"
    if status in FAILED_STATUSES:
        return f":red-badge[:material/error: {status}]"
    if status in RUNNING_STATUSES:
        return f":blue-badge[:material/sync: {status}]"
    if status in WAITING_STATUSES:
        return f":orange-badge[:material/schedule: {status}]"
    # Not one of ours: outside the badge, so the value never meets the directive's syntax.
    return f":gray-badge[:material/help: unknown status:] {record_text(status, 200, code=True)}"


def duration_text(ms: int | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``; ``—`` for None."""
    if ms is None:
        return "—"
    if ms < 1_000:
        return f"{ms} ms"
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    seconds = ms // 1000
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def as_of_text(as_of: float, now: float) -> str:
    """``as of 21:15:40 UTC (3 s ago)``: when trigger.dev was asked."""
    clock = datetime.fromtimestamp(as_of, tz=UTC).strftime("%H:%M:%S")
    return f"as of {clock} UTC ({max(0, int(now - as_of))} s ago)"


def run_link(run_id: str, run_url_template: str) -> str:
    """A related run as a Markdown link to the dashboard, or as code when it must not link."""
    label = record_text(run_id, 200, code=True)
    url = run_url(run_id, run_url_template)
    # <…>: a template's own parentheses or spaces cannot end the destination early.
    return f"[{label}](<{url}>)" if url else label


def _when(moment: datetime | None, now: float) -> str:
    return f"{utc_text(moment)} · {ago(moment, now)}" if moment is not None else "—"


def state_markdown(state: RunState, *, as_of: float, now: float, run_url_template: str) -> str:
    """The panel's Markdown for a run the API answered (all but the stack trace)."""
    task = record_text(state.task_identifier, 200, code=True) if state.task_identifier else "—"
    lines = [
        f"**Run state** {status_badge(state.status)} · **Task** {task} · "
        f":small[:gray[{as_of_text(as_of, now)}]]",
        f"**Created** {_when(state.created_at, now)}",
        f"**Started** {_when(state.started_at, now)}",
        f"**Finished** {_when(state.finished_at, now)}",
    ]
    # durationMs is 0 for a run that never started: no duration rather than "0 ms".
    started = state.started_at is not None or bool(state.duration_ms)
    test = {True: "yes", False: "no", None: "—"}[state.is_test]
    tags = ", ".join(record_text(tag, 200, code=True) for tag in state.tags) or "none"
    lines.append(
        f"**Duration** {duration_text(state.duration_ms if started else None)} "
        ":small[:gray[(compute time, waits not counted)]] · "
        f"**Attempts** {'—' if state.attempt_count is None else state.attempt_count} · "
        f"**Test run** {test} · **Tags** {tags}"
    )
    if state.error_name or state.error_message:
        name = record_text(state.error_name, 200, code=True) if state.error_name else ""
        message = record_text(state.error_message, MESSAGE_LIMIT) if state.error_message else ""
        lines.append(f"**Error** {' — '.join(part for part in (name, message) if part)}")
    related = []
    if state.parent_run_id:
        related.append(f"**Parent run** {run_link(state.parent_run_id, run_url_template)}")
    if state.root_run_id:
        related.append(f"**Root run** {run_link(state.root_run_id, run_url_template)}")
    if related:
        lines.append(" · ".join(related))
    return "  \n".join(lines)


def unavailable_markdown(reason: str, *, as_of: float, now: float) -> str:
    """The warning's Markdown when the run's state could not be learned (the reason exactly)."""
    return (
        f"**Run state unavailable** — {record_text(reason, MESSAGE_LIMIT)}  \n"
        f":small[{as_of_text(as_of, now)}; the Redis record is shown as usual]"
    )


def render(
    outcome: RunOutcome,
    as_of: float,
    *,
    now: float,
    run_url_template: str,
    key: str,
    on_refresh: Callable[[], None] | None = None,
    demo: bool = False,
) -> None:
    """Draw one run's outcome; ``key`` names its refresh button (unique on the page)."""
    with st.container(border=True):
        if isinstance(outcome, RunState):
            st.markdown(
                state_markdown(outcome, as_of=as_of, now=now, run_url_template=run_url_template)
            )
            if outcome.error_stack:
                with st.expander("Stack trace", icon=":material/data_object:"):
                    st.code(outcome.error_stack, language=None)
            label = "Refresh"
        elif isinstance(outcome, Unavailable):
            st.warning(
                unavailable_markdown(outcome.reason, as_of=as_of, now=now),
                icon=":material/cloud_off:",
            )
            label = "Try again"
        else:
            text = NOT_IN_DEMO_TEXT if demo else NOT_IN_ENVIRONMENT_TEXT
            st.info(f"{text}  \n:small[{as_of_text(as_of, now)}]", icon=":material/travel_explore:")
            label = "Refresh"
        st.button(
            label,
            key=key,
            icon=":material/refresh:",
            type="tertiary",
            on_click=on_refresh,
            help=f"Ask trigger.dev again (an answer is otherwise reused for "
            f"{LOOKUP_TTL_SECONDS:.0f} s)",
        )

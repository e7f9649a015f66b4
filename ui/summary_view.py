"""The Summary page (``pages/summary.py`` calls :func:`page`): window → one scan →
any filters → render.

One scan per window (``telemetry.summary.scan_window``) is kept process-wide for
``CACHE_SECONDS``: its ``WindowFold`` counts by type × organization × time bucket
× status, so every type and organization filter is a fold of those counters
(``fold.view``), never another scan. The view of one filter combination (tables
from ``ui.tables``, charts from ``ui.charts``, CSV builders) is cached beside it,
so a rerun with a warm cache only renders. The caches are ``ui.cache.ProcessCache``
rather than ``st.cache_data``: the scan reports progress to an element created
outside it, which ``st.cache_data`` cannot replay.

Window and filters are bound to the URL (``bind="query-params"``), so a link
reproduces the view. The Rows CSV is every record of the window after the
filters, newest first (``telemetry.rows_export``, the bytes of ``summary
--rows``), scanned when clicked.

The Run outcomes tab (issue #14) asks trigger.dev about the kept rows only when
its button is clicked (a long window costs many requests), through one
``telemetry.runs.outcomes.run_outcomes`` call, and keeps the result in its own
``ProcessCache`` keyed by the view's key and scan time: the outcomes of exactly
the records shown, shared by every session.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from telemetry import WINDOWS, ConfigError, Summary
from telemetry.org_names import load_org_names
from telemetry.rows_export import export_rows
from telemetry.runs import FAILED_STATUSES, SUCCESS
from telemetry.runs.outcomes import RunOutcomes, from_summary_rows, run_outcomes
from telemetry.summary import DAY, WindowFold, scan_window

from . import context, runs, shell
from .cache import ProcessCache
from .charts import Compiled, SummaryCharts, summary_charts
from .context import AppContext
from .format import ago, record_text, utc_text
from .render import Memo, download
from .tables import SummaryTables, org_label, summary_tables

CACHE_SECONDS = 60.0
CACHE_ENTRIES = 16
ROWS_KEPT = 50_000  # rows kept per scan for the Run outcomes tab (the Rows CSV has them all)
ORG_OPTIONS = 100  # organizations offered in the filter (by records); others can be typed
# Widget keys, and so the URL's query parameters (?summary_window=7d&summary_types=…).
WINDOW_KEY = "summary_window"
TYPES_KEY = "summary_types"
ORGS_KEY = "summary_orgs"
REFRESH_KEY = "summary_refresh"
_REFRESH_REQUESTED = "summary_refresh_requested"  # set by Refresh's callback, read by the run
DEFAULT_WINDOW = "24h"
NAME_VALUES = 3  # filter values spelled out in a file name (more: "5-types")
_FILE_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def page() -> None:
    """The Summary page (``pages/summary.py``): window, the window's scan (cached), then the
    filters and the view of that scan they select.

    With a warm cache every element is drawn once, in its place. Only a scan
    (first visit, new window, expired cache, Refresh) needs placeholders for the
    filters whose options come from it, since its progress bar shows under them.
    Every run draws the same elements in the same places, scan or not: while a run
    is under way Streamlit keeps the previous run's elements, so one that moved
    would show twice (a stale metric row beside the new one).
    """
    ctx = shell.page_context()
    st.title("Summary")
    names = org_names(ctx)
    # Refresh's callback runs before this run, so its click is known before the filters draw.
    refresh = bool(st.session_state.pop(_REFRESH_REQUESTED, False))
    row = st.container(horizontal=True, vertical_alignment="bottom", gap="medium")
    with row:
        window = (
            st.segmented_control(
                "Window",
                list(WINDOWS),
                default=DEFAULT_WINDOW,
                # No format_func: a bound widget writes its label to the URL (?summary_window=7d).
                key=WINDOW_KEY,
                bind="query-params",
                help="Records processed within this time (1h, 6h, 24h, 7d; all = every key, "
                "up to the TTL)",
            )
            or DEFAULT_WINDOW
        )
        fold = None if refresh else cached_fold(ctx, window)
        if fold is not None:
            types, orgs = render_filters((row, row), ctx, fold)
        else:
            slots = st.empty(), st.empty()
        st.button(
            "Refresh",
            key=REFRESH_KEY,
            icon=":material/refresh:",
            help="Scan again now",
            on_click=_request_refresh,
        )
    scanning = st.empty()  # the scan's progress bar, when there is one
    if fold is None:
        with context.edge():
            fold = compute_fold(ctx, window, scanning, refresh=refresh)
        types, orgs = render_filters(slots, ctx, fold)
    if fold is not None:
        view = view_of(ctx, window, fold, types, orgs, names)
        render_notes(view, ctx, window)
        render_metrics(view)
        render_downloads(view, ctx, window, names)
        render_sections(view, ctx, cache_key(ctx, window, types, orgs))


def _request_refresh() -> None:
    st.session_state[_REFRESH_REQUESTED] = True


def org_names(ctx: AppContext) -> Mapping[str, str] | None:
    """``ORG_NAMES_PATH``'s names (None when unset); a bad file is shown, and IDs stay bare."""
    try:
        return load_org_names(ctx.settings.org_names_path)
    except ConfigError as exc:
        st.error(record_text(str(exc)), icon=":material/badge:")
        return None


def render_filters(
    slots: tuple[Any, Any],  # containers (st.empty() or a row) to draw the two filters in
    ctx: AppContext,
    fold: WindowFold | None,
) -> tuple[list[str], list[str]]:
    """The type and organization filters, drawn by ``slots`` and bound to the URL; their
    options are what the window's scan saw (so a filter never hides the others).
    Returns their values."""
    types_slot, orgs_slot = slots
    seen_types, seen_orgs = fold.seen() if fold is not None else ([], [])
    # A value from session state or a shared link stays an option, seen in this scan or not.
    types_now = [*(st.session_state.get(TYPES_KEY) or []), *_url_values(TYPES_KEY)]
    orgs_now = [*(st.session_state.get(ORGS_KEY) or []), *_url_values(ORGS_KEY)]
    types = types_slot.multiselect(
        "Entity types",
        sorted(set(ctx.settings.registry.types) | set(seen_types) | set(types_now)),
        key=TYPES_KEY,
        bind="query-params",
        placeholder="All types",
    )
    orgs = orgs_slot.multiselect(
        "Organizations",
        # The busiest ones (any other can be typed): a long option list is sent on every rerun.
        list(dict.fromkeys([*orgs_now, *seen_orgs[:ORG_OPTIONS]])),
        key=ORGS_KEY,
        bind="query-params",
        # IDs, not names: a bound widget writes its labels to the URL, and a link keeps IDs.
        format_func=org_label,
        placeholder="All organizations",
        accept_new_options=True,
    )
    return list(types or []), list(orgs or [])


def _url_values(key: str) -> list[str]:
    try:
        return list(st.query_params.get_all(key))
    except Exception:  # a bound parameter may not be readable: then no extra options
        return []


@dataclass(slots=True)
class SummaryView:
    summary: Summary
    types_seen: list[str]  # in the filtered view, by records
    orgs_seen: list[str]  # in the filtered view, by records, descending ("" = unknown)
    orgs_known: int  # distinct organizations among them ("" not counted)
    charts: SummaryCharts
    tables: SummaryTables
    groups_csv: Memo


# Process-wide: every session with the same settings shares a window's scan, and every
# filter of it. Not st.cache_resource, which any client can empty (forcing rescans).
_FOLDS: ProcessCache[tuple[Any, ...], WindowFold] = ProcessCache(
    "summary scans", max_entries=CACHE_ENTRIES, ttl=CACHE_SECONDS
)
_VIEWS: ProcessCache[tuple[Any, ...], SummaryView] = ProcessCache(
    "summary views", max_entries=4 * CACHE_ENTRIES, ttl=CACHE_SECONDS
)


def cache_key(ctx: AppContext, window: str, types: list[str], orgs: list[str]) -> tuple[Any, ...]:
    return (ctx.key, window, tuple(sorted(types)), tuple(sorted(orgs)))


def cached_fold(ctx: AppContext, window: str) -> WindowFold | None:
    return _FOLDS.get((ctx.key, window))


def compute_fold(
    ctx: AppContext, window: str, scanning: Any, *, refresh: bool = False
) -> WindowFold:
    """The window's cached scan, or a fresh one with a progress bar in ``scanning`` (an
    ``st.empty()``; ``refresh`` forces a scan)."""
    key = (ctx.key, window)
    fold = None if refresh else _FOLDS.get(key)
    if fold is not None:
        return fold
    cap = ctx.settings.scan_max_keys
    namespace = ctx.settings.telemetry_namespace
    bar = scanning.progress(0.0, text=f"Scanning {namespace}:* …")

    def progress(scanned: int, records: int, invalid: int) -> None:
        bar.progress(
            min(scanned / cap, 1.0),
            text=f"Scanning {namespace}:* — {scanned:,} keys, {records:,} records in the "
            f"window, {invalid:,} invalid",
        )

    try:
        fold = scan_window(
            ctx.reader, since=WINDOWS[window], keep_rows=ROWS_KEPT, progress=progress
        )
    finally:
        bar.empty()
    if not fold.error:  # a scan cut short by Redis is shown, not cached: the next run retries
        _FOLDS.put(key, fold)
    return fold


def view_of(
    ctx: AppContext,
    window: str,
    fold: WindowFold,
    types: list[str],
    orgs: list[str],
    names: Mapping[str, str] | None = None,
) -> SummaryView:
    """The view of one filter combination of the window's scan: no Redis, cached with it."""
    key = (*cache_key(ctx, window, types, orgs), fold.as_of, id(names))
    view = _VIEWS.get(key)
    if view is None:
        view = build_view(fold.view(types, orgs), window, names)
        if not fold.error:
            _VIEWS.put(key, view)
    return view


def build_view(
    summary: Summary, window: str, names: Mapping[str, str] | None = None
) -> SummaryView:
    """Everything a render needs, built once per filtered summary and cached with it."""
    return SummaryView(
        summary=summary,
        types_seen=[t for t, _ in summary.by_type.most_common()],
        orgs_seen=[o for o, _ in summary.by_org.most_common()],
        orgs_known=sum(1 for org in summary.by_org if org),
        charts=summary_charts(summary, names),
        tables=summary_tables(summary, names),
        groups_csv=Memo(lambda: summary.groups_csv(names).encode("utf-8")),
    )


def file_name(kind: str, window: str, summary: Summary) -> str:
    """``run-lookup-{kind}-{window}[-type-a+b][-org-x].csv``: what the file holds."""
    parts = ["run-lookup", kind, window]
    for label, values in (("type", summary.types), ("org", summary.organizations)):
        if values:
            shown = (
                "+".join(_FILE_UNSAFE.sub("_", v) or "unknown" for v in values)
                if len(values) <= NAME_VALUES
                else f"{len(values)}-{label}s"
            )
            parts += [label, shown]
    return "-".join(parts) + ".csv"


# -- rendering ---------------------------------------------------------------------


def render_notes(view: SummaryView, ctx: AppContext, window: str) -> None:
    # One container: how many notes a view has must not move the metrics and sections
    # below. A moved element is drawn twice while a rerun replaces the previous one.
    with st.container():
        _notes(view, ctx, window)


def _notes(view: SummaryView, ctx: AppContext, window: str) -> None:
    summary = view.summary
    age = ago(summary.as_of, time.time())
    since = (
        f"records processed since {utc_text(summary.window_start)}"
        if summary.window_start is not None
        else "every record within the TTL"
    )
    st.caption(
        f"As of {utc_text(summary.as_of)} ({age}) · {since} · cached for "
        f"{int(CACHE_SECONDS)} s — **Refresh** scans again. The link to this page keeps the "
        "window and filters."
    )
    if summary.capped:
        st.warning(
            f"Sampled {summary.scanned_keys:,} keys (cap reached: SCAN_MAX_KEYS="
            f"{ctx.settings.scan_max_keys:,}). The numbers cover only the keys scanned.",
            icon=":material/data_thresholding:",
        )
    if summary.error:
        st.warning(
            f"Incomplete scan — {record_text(summary.error)} Partial results below.",
            icon=":material/warning:",
        )
    if summary.records:
        st.caption(org_share_text(summary))
    if summary.organizations and summary.invalid_records:
        st.caption(invalid_filter_text(summary))


def org_share_text(summary: Summary) -> str:
    """How many records carry an organization: "(unknown)" is every other record together."""
    known = summary.records_with_org
    share = known / summary.records
    text = (
        f"**{_percent(share)} of records carry an organization** ({known:,} of "
        f"{summary.records:,})."
    )
    unknown = summary.records - known
    if unknown:
        text += (
            f" The other {unknown:,} are minimal records (only `runId`, what the production "
            "producer writes): *(unknown)* is all of them together, not one organization."
        )
    return text


def invalid_filter_text(summary: Summary) -> str:
    """Which filters the invalid count follows: the type filter, never the organization one."""
    follows = "the window and the type filter" if summary.types else "the window"
    return (
        f"Invalid records ({summary.invalid_records:,}) follow {follows} only: an invalid "
        "record has no organization, so the organization filter cannot apply to it."
    )


def _percent(share: float) -> str:
    """A share as a reader can trust it: never "0 %" or "100 %" when it is not."""
    if 0 < share < 0.01:
        return "under 1%"
    if 0.99 < share < 1:
        return "over 99%"
    return f"{share:.0%}"


def render_metrics(view: SummaryView) -> None:
    summary = view.summary
    inferred = f"{summary.inferred_times / summary.records:.0%}" if summary.records else "—"
    with_org = _percent(summary.records_with_org / summary.records) if summary.records else "—"
    invalid_help = (
        "Keys whose value is not a record, counted by their time inferred from the TTL "
        "inside the window"
        + (" and of the types chosen" if summary.types else "")
        + "; the organization filter cannot apply to them (they have no organization)"
    )
    cells = [
        ("Records", f"{summary.records:,}", "Valid records in the window (and filters)"),
        ("Invalid records", f"{summary.invalid_records:,}", invalid_help),
        (
            "Organizations",
            f"{view.orgs_known:,}",
            "Distinct organizations among the records (records without one not counted)",
        ),
        (
            "With organization",
            with_org,
            "Records that carry an organizationId; minimal records (only runId) carry none",
        ),
        ("Entity types", f"{len(view.types_seen):,}", "Entity types with records"),
        ("Keys scanned", f"{summary.scanned_keys:,}", "Keys read by SCAN in the namespace"),
        ("Time inferred", inferred, "Records without a timestamp: time from the key's TTL"),
    ]
    with st.container(horizontal=True, gap="medium"):
        for label, value, help_text in cells:
            st.metric(label, value, help=help_text, border=True)


TAB_KEY = "summary_tab"
TAB_OVERVIEW = "By type and organization"
TAB_TIME = "Over time"
TAB_PIVOT = "Type × organization"
TAB_STATUS = "Statuses"
TAB_INVALID = "Invalid records"
TAB_RUNS = "Run outcomes"


def render_sections(
    view: SummaryView, ctx: AppContext | None = None, key: tuple[Any, ...] | None = None
) -> None:
    """The charts and tables, one tab each; only the open tab is built on a rerun.

    ``ctx`` and ``key`` (the view's cache key) add the Run outcomes tab.
    """
    summary = view.summary
    if not summary.records and not summary.invalid_records:
        st.info("No records in this window and filters.", icon=":material/inbox:")
        return
    labels = [TAB_OVERVIEW, TAB_TIME, TAB_PIVOT]
    if view.tables.statuses.num_rows:
        labels.append(TAB_STATUS)
    if summary.invalid_records:
        labels.append(TAB_INVALID)
    if ctx is not None and key is not None and summary.records:
        labels.append(TAB_RUNS)
    if st.session_state.get(TAB_KEY) not in (None, *labels):
        st.session_state[TAB_KEY] = TAB_OVERVIEW
    tabs = dict(zip(labels, st.tabs(labels, key=TAB_KEY, on_change="rerun"), strict=True))
    if tabs[TAB_OVERVIEW].open:
        with tabs[TAB_OVERVIEW]:
            _overview(view)
    if tabs[TAB_TIME].open:
        with tabs[TAB_TIME]:
            unit = "day" if summary.bucket_seconds == DAY else "hour"
            st.caption(f"Records per {unit} (UTC), one small chart per entity type.")
            if view.charts.over_time is not None:
                view.charts.over_time.render()
    if tabs[TAB_PIVOT].open:
        with tabs[TAB_PIVOT]:
            st.caption("Records per organization and entity type, busiest organization first.")
            st.dataframe(
                view.tables.pivot,
                hide_index=True,
                column_config={"Organization": st.column_config.TextColumn(pinned=True)},
                height=420 if view.tables.pivot.num_rows > 12 else "auto",
            )
    if TAB_STATUS in tabs and tabs[TAB_STATUS].open:
        with tabs[TAB_STATUS]:
            st.caption("From `metadata.status`, for records that carry one.")
            st.dataframe(
                view.tables.statuses,
                hide_index=True,
                column_config={
                    "entity_type": st.column_config.TextColumn("Entity type"),
                    "status": st.column_config.TextColumn("Status"),
                    "records": st.column_config.NumberColumn("Records"),
                    "share": st.column_config.ProgressColumn(
                        "Share of the type", format="percent", min_value=0.0, max_value=1.0
                    ),
                },
                height=420 if view.tables.statuses.num_rows > 12 else "auto",
            )
    if TAB_INVALID in tabs and tabs[TAB_INVALID].open:
        with tabs[TAB_INVALID]:
            _invalid(view)
    if TAB_RUNS in tabs and tabs[TAB_RUNS].open and ctx is not None and key is not None:
        with tabs[TAB_RUNS]:
            render_run_outcomes(view, ctx, key)


def _overview(view: SummaryView) -> None:
    summary = view.summary
    if not summary.records:
        st.caption("No valid records in this window and filters.")
        return
    left, right = st.columns(2, gap="large")
    with left:
        st.markdown("**Records by entity type**")
        if view.charts.by_type is not None:
            view.charts.by_type.render()
    with right:
        title = f"**{view.charts.orgs_title}**"  # exact text: charts.orgs_title
        unknown = summary.records - summary.records_with_org
        if unknown:
            # Its own figure, not a bar: beside customers it would dwarf them all. (Under
            # the title in the same element: each element costs every rerun.)
            title += (
                f"  \n:material/help_outline: **{unknown:,} records without an organization** "
                f"({_percent(unknown / summary.records)}): minimal records, not a customer."
            )
        st.markdown(title)
        if view.charts.top_orgs is not None:
            view.charts.top_orgs.render()
        elif not summary.records_with_org:
            st.caption("No record in this view carries an organization.")


def _invalid(view: SummaryView) -> None:
    summary = view.summary
    st.caption(
        f"{summary.invalid_records:,} keys whose time (inferred from the TTL) is in the window "
        "hold something that is not a telemetry record (JSON with a string `runId`); lookups "
        "of these entities say why too."
        + (
            f" {summary.invalid_outside:,} more are older or have no TTL (no time to place)."
            if summary.invalid_outside
            else ""
        )
    )
    if summary.organizations:
        st.caption(invalid_filter_text(summary))
    st.dataframe(view.tables.invalid_reasons, hide_index=True)
    st.dataframe(
        view.tables.invalid_examples,
        hide_index=True,
        column_config={"raw value (truncated)": st.column_config.TextColumn(width="large")},
    )


def rows_csv(
    ctx: AppContext, window: str, summary: Summary, names: Mapping[str, str] | None = None
) -> bytes:
    """The Rows CSV: ``summary --rows`` for this window and these filters, the same bytes."""
    out = io.BytesIO()
    export_rows(
        ctx.reader,
        out,
        since=WINDOWS[window],
        types=summary.types or None,
        organizations=summary.organizations or None,
        org_names=names,
    )
    return out.getvalue()


def render_downloads(
    view: SummaryView, ctx: AppContext, window: str, names: Mapping[str, str] | None = None
) -> None:
    summary = view.summary
    with st.container(horizontal=True, gap="small"):
        download(
            "Grouped CSV",
            view.groups_csv,
            file_name=file_name("summary", window, summary),
            mime="text/csv",
            key="summary_download_groups",
            help="entity_type, organization_id, records, latest_processed_at (as summary)",
        )
        # Built on click, and not kept with the view: a long window's rows are large.
        download(
            "Rows CSV",
            Memo(lambda: rows_csv(ctx, window, summary, names)),
            file_name=file_name("rows", window, summary),
            mime="text/csv",
            key="summary_download_rows",
            help="Every record of the window and filters, newest first, with run URL and "
            "metadata (as summary --rows); scanned when clicked",
        )


# -- run outcomes (issue #14) ----------------------------------------------------------

RUNS_LOAD_KEY = "summary_runs_load"
RUNS_RELOAD_KEY = "summary_runs_reload"
RUNS_CACHE_SECONDS = 600.0
ERROR_DETAILS = 100  # failed runs whose error message is retrieved (one request each)
REASONS_SHOWN = 5
RUN_LINK_TEXT = r".*(run_[A-Za-z0-9]+)"


@dataclass(slots=True)
class OutcomesView:
    outcomes: RunOutcomes
    by_type: pd.DataFrame  # type × status counts with the failure share
    chart: Compiled | None
    failed: pd.DataFrame
    failed_csv: Memo
    statuses_csv: Memo


# Keyed by the Summary view's key and its scan time: the outcomes of exactly the records
# shown. Process-wide like the views (ui/cache.py), so asking the API is shared too.
_OUTCOMES: ProcessCache[tuple[Any, ...], OutcomesView] = ProcessCache(
    "summary run outcomes", max_entries=CACHE_ENTRIES, ttl=RUNS_CACHE_SECONDS
)


def _status_order(status: str) -> tuple[int, str]:
    if status == SUCCESS:
        return (0, status)
    if status in FAILED_STATUSES:
        return (1, status)
    if status in ("not_in_environment", "unavailable"):
        return (3, status)
    return (2, status)


def _colour(status: str) -> str:
    """Green for success, reds for failures, blue while running, grey when not learned."""
    if status == SUCCESS:
        return "#2e9e5b"
    if status in FAILED_STATUSES:
        return "#d64545" if status == "FAILED" else "#f08a4b"
    if status in ("not_in_environment", "unavailable"):
        return "#a0a4ab"
    return "#4a7fd6"


def build_outcomes_view(outcomes: RunOutcomes) -> OutcomesView:
    """The tables, chart and CSVs of one set of outcomes, built once and cached with it."""
    statuses = sorted({status for _, status in outcomes.counts}, key=_status_order)
    by_type = pd.DataFrame(
        {
            "entity_type": [row.entity_type for row in outcomes.by_type],
            "records": [row.records for row in outcomes.by_type],
            "failed": [row.failed for row in outcomes.by_type],
            "failure_share": [row.failure_share for row in outcomes.by_type],
            **{
                status: [
                    outcomes.counts.get((row.entity_type, status), 0) for row in outcomes.by_type
                ]
                for status in statuses
            },
        }
    )
    chart = None
    if outcomes.counts:
        rows = pd.DataFrame(
            outcomes.status_rows(), columns=["entity_type", "run_status", "records"]
        )
        chart = Compiled.of(
            alt.Chart(rows)
            .mark_bar()
            .encode(
                y=alt.Y("entity_type:N", title=None, sort="-x"),
                x=alt.X("sum(records):Q", title="Records"),
                color=alt.Color(
                    "run_status:N",
                    title="Run status",
                    sort=statuses,
                    scale=alt.Scale(domain=statuses, range=[_colour(s) for s in statuses]),
                ),
                tooltip=["entity_type:N", "run_status:N", "records:Q"],
            )
            .properties(height=alt.Step(28))
        )
    failed = pd.DataFrame(
        {
            "entity_type": [f.entity_type for f in outcomes.failed],
            "entity_id": [f.entity_id for f in outcomes.failed],
            "run": [f.run_url for f in outcomes.failed],
            "run_id": [f.run_id for f in outcomes.failed],
            "run_status": [f.run_status for f in outcomes.failed],
            "error": [f.error_message for f in outcomes.failed],
            "task_identifier": [f.task_identifier for f in outcomes.failed],
            "finished_at": pd.to_datetime([f.finished_at for f in outcomes.failed], utc=True),
            "organization_id": [f.organization_id for f in outcomes.failed],
        }
    )
    if failed["run"].notna().all():
        failed = failed.drop(columns="run_id")  # the link shows it; kept for unlinkable IDs
    return OutcomesView(
        outcomes=outcomes,
        by_type=by_type,
        chart=chart,
        failed=failed,
        failed_csv=Memo(lambda: outcomes.failed_csv().encode("utf-8")),
        statuses_csv=Memo(lambda: outcomes.statuses_csv().encode("utf-8")),
    )


def render_run_outcomes(view: SummaryView, ctx: AppContext, key: tuple[Any, ...]) -> None:
    """The Run outcomes tab: a load button (asking the API costs requests), then the result."""
    if not runs.enabled(ctx):
        st.caption("Run state is off (for admins: see **Admin: setup** in the sidebar).")
        return
    summary = view.summary
    outcomes_key = (*key, summary.as_of)
    records = len(summary.rows)
    reload = st.session_state.get(RUNS_RELOAD_KEY, False)
    loaded = None if reload else _OUTCOMES.get(outcomes_key)
    # The button, then the load's progress bar; on every run, so the result below has
    # one place whether this run loads it or not.
    intro = st.empty()
    if loaded is None:
        with intro.container():
            source = "the demo runs" if runs.is_demo_api(ctx) else "trigger.dev"
            st.caption(
                f"Each record's run state from {source}: one request per 100 runs created in "
                f"the window, one per run the listing misses, and one per failed run's error "
                f"message (the newest {ERROR_DETAILS})."
            )
            if summary.rows_truncated:
                st.caption(f"Only the first {records:,} records of the window are kept: a sample.")
            if not reload and not st.button(
                f"Load run outcomes for {records:,} records",
                key=RUNS_LOAD_KEY,
                icon=":material/cloud_download:",
            ):
                return
        intro.empty()
        if reload:
            _OUTCOMES.pop(outcomes_key)
        with context.edge(key="summary_runs_retry"):
            loaded = _OUTCOMES.get_or_build(outcomes_key, lambda: _load(ctx, summary, intro))
        if loaded is None:
            return
    _render_outcomes(loaded, summary)


def _load(ctx: AppContext, summary: Summary, slot: Any) -> OutcomesView:
    client = runs.client(ctx)
    assert client is not None  # noqa: S101 - runs.enabled(ctx) was checked
    records = from_summary_rows(summary.rows)
    bar = slot.progress(0.0, text=f"Asking for the runs of {len(records):,} records …")

    def progress(phase: str, done: int, total: int) -> None:
        what = "run states" if phase == "states" else "error messages of failed runs"
        bar.progress(
            min(done / total, 1.0) if total else 1.0, text=f"{what}: {done:,} of {total:,}"
        )

    try:
        outcomes = run_outcomes(
            client,
            records,
            run_url_template=ctx.settings.run_url_template,
            error_details=ERROR_DETAILS,
            progress=progress,
        )
    finally:
        bar.empty()
    return build_outcomes_view(outcomes)


def _render_outcomes(loaded: OutcomesView, summary: Summary) -> None:
    outcomes = loaded.outcomes
    with st.container(horizontal=True, vertical_alignment="center"):
        st.caption(
            f"As of {utc_text(outcomes.as_of)} ({ago(outcomes.as_of, time.time())}) · "
            f"{outcomes.records:,} records, {outcomes.runs:,} runs · "
            f"{outcomes.requests:,} requests"
        )
        st.button("Ask again", key=RUNS_RELOAD_KEY, icon=":material/refresh:")
    if summary.rows_truncated:
        st.caption(f"A sample: the first {outcomes.records:,} records of the window.")
    reasons = outcomes.unavailable.most_common()
    for reason, count in reasons[:REASONS_SHOWN]:
        st.warning(
            f"Run state unavailable for {count:,} records: {record_text(reason)}",
            icon=":material/cloud_off:",
        )
    if len(reasons) > REASONS_SHOWN:
        rest = sum(n for _, n in reasons[REASONS_SHOWN:])
        st.caption(f"… and {rest:,} more records unavailable for other reasons.")
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown("**Records by run status and entity type**")
        st.dataframe(
            loaded.by_type,
            hide_index=True,
            column_config={
                "entity_type": st.column_config.TextColumn("Entity type", pinned=True),
                "records": st.column_config.NumberColumn("Records"),
                "failed": st.column_config.NumberColumn("Failed"),
                "failure_share": st.column_config.ProgressColumn(
                    "Failure share",
                    format="percent",
                    min_value=0.0,
                    max_value=1.0,
                    help="Failed runs ÷ records whose run trigger.dev answered for",
                ),
            },
        )
    with right:
        if loaded.chart is not None:
            loaded.chart.render()
    st.markdown(f"**Failed entities ({len(outcomes.failed):,})**, newest first")
    if outcomes.failed:
        st.dataframe(
            loaded.failed,
            hide_index=True,
            column_config=FAILED_COLUMNS,
            height=420 if len(outcomes.failed) > 12 else "auto",
        )
    else:
        st.caption("No failed runs among these records.")
    if outcomes.errors_skipped:
        st.caption(
            f"Error messages of the newest {outcomes.errors_fetched:,} failed runs; "
            f"{outcomes.errors_skipped:,} older ones were not asked for (one request each)."
        )
    if outcomes.error_problem:
        st.warning(
            f"Some error messages could not be retrieved: {record_text(outcomes.error_problem)}",
            icon=":material/cloud_off:",
        )
    with st.container(horizontal=True, gap="small"):
        download(
            "Failed entities CSV",
            loaded.failed_csv,
            file_name="run-lookup-failed-runs.csv",
            mime="text/csv",
            key="summary_download_failed_runs",
            help="entity_type, entity_id, organization_id, run_id, run_url, run_status, "
            "task_identifier, run_finished_at, run_error, processed_at",
        )
        download(
            "Run statuses CSV",
            loaded.statuses_csv,
            file_name="run-lookup-run-statuses.csv",
            mime="text/csv",
            key="summary_download_run_statuses",
            help="entity_type, run_status, records (as summary --runs)",
        )


FAILED_COLUMNS = {
    "entity_type": st.column_config.TextColumn("Entity type"),
    "entity_id": st.column_config.TextColumn("Entity ID"),
    "run": st.column_config.LinkColumn(
        "Run", display_text=RUN_LINK_TEXT, help="Opens the run in the Trigger.dev dashboard"
    ),
    "run_id": st.column_config.TextColumn(
        "Run ID (no link)", help="Run IDs not of the form run_<letters/digits> get no link"
    ),
    "run_status": st.column_config.TextColumn("Status"),
    "task_identifier": st.column_config.TextColumn("Task"),
    "finished_at": st.column_config.DatetimeColumn(
        "Finished (UTC)", format="YYYY-MM-DD HH:mm:ss", timezone="UTC"
    ),
    "error": st.column_config.TextColumn("Error", width="large"),
    "organization_id": st.column_config.TextColumn("Organization"),
}

"""The Bulk resolve page (``pages/bulk.py`` calls :func:`page`): input → parse →
resolve, memoised per input.

A result lives in ``st.session_state`` under the hash of its input (text or
file bytes, chosen column, settings), so a filter change or a download reruns
the page without touching Redis or re-parsing; download files are built on the
first click only (``render.Memo``).

With run state on (``ui.runs.client``), the Redis rows are shown first; then
trigger.dev is asked once for every found row's run (``resolution_runs``), and
the answers join the result in session state: a filter change or a download
asks nothing, **Resolve** asks again. The API never holds back or loses the
Redis rows: its failures are ``unavailable`` rows with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import streamlit as st

from telemetry import (
    ParsedIds,
    Resolution,
    Status,
    TelemetryError,
    parse_ids,
    results_csv,
    runs_list_urls,
)
from telemetry.columns_kept import KeptRows, kept_rows, with_kept_csv
from telemetry.ids import RUN
from telemetry.runs import FAILED_STATUSES, RunOutcome, Unavailable, resolution_runs, runs_csv

from . import context, render, runs, shared_results, shell
from .context import AppContext
from .format import record_text
from .render import Memo, download
from .tables import RunTable, bulk_table, kept_key, run_table, with_kept

LOG = logging.getLogger(__name__)

TEXT_KEY = "bulk_text"
FILE_KEY = "bulk_file"
FILTER_KEY = "bulk_filter"
SHARE_KEY = "bulk_share"
CLEAR_KEY = "bulk_clear"
_PARSE_STATE = "_bulk_parsed"
_RESULT_STATE = "_bulk_result"
# Bytes read at most: a 100,000-line CSV with a few of the user's own columns (~12 MB)
# fits; refused before parsing. The same 20 MiB as server.maxUploadSize in
# .streamlit/config.toml (a test holds them equal).
MAX_INPUT_BYTES = 20 * 1024 * 1024
PROGRESS_FROM = 1_000  # queries: smaller inputs resolve in one round trip
PROGRESS_EVERY = 0.2  # seconds between progress bar updates
COPY_LINES = 20_000  # lines in the "copy missing IDs" block; the .txt has them all
LIST_LINKS = 40  # runs-list links shown at most
RUN_COLUMN_PX = 280  # a whole run_ + 25 characters ID in the grid's font
EVERY_COLUMN = "(every column)"
# The run ID is the last run_… in the URL, whatever the configured template.
RUN_LINK_TEXT = r".*(run_[A-Za-z0-9]+)"
FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "all": ("All", ()),
    "found": ("Found", (Status.FOUND.value,)),
    "not_found": ("Not found", (Status.NOT_FOUND.value,)),
    "invalid": ("Invalid", (Status.INVALID_ID.value, Status.INVALID_RECORD.value)),
    "error": ("Errors", (Status.ERROR.value,)),
    "ignored": ("Set aside", (Status.IGNORED.value,)),
}
# Filters on the run status column, offered when run state is on and they match rows.
RUN_FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "failed_runs": ("Failed runs", tuple(sorted(FAILED_STATUSES))),
    "runs_unavailable": ("Run state unavailable", (Unavailable.status,)),
}
RUN_LABELS = {Unavailable.status: "unavailable", "not_in_environment": "not in environment"}
REASONS_SHOWN = 3  # distinct "unavailable" reasons named at the top of the run section


@dataclass(slots=True)
class BulkInput:
    data: str | bytes
    digest: str
    file_name: str | None = None


@dataclass(slots=True)
class RunsResult:
    """What trigger.dev said about a result's runs, and what the page shows of it."""

    outcomes: list[RunOutcome | None]
    view: RunTable
    failed_rows: int
    unavailable_rows: int
    failed_list: list[str]  # dashboard list URLs of the failed runs only
    seconds: float
    requests: int
    as_of: float  # epoch seconds
    demo: bool
    csv: Memo


@dataclass(slots=True)
class BulkResult:
    key: str
    parsed: ParsedIds
    resolution: Resolution
    table: pa.Table
    counts: dict[str, int]
    missing: list[str]
    runs_list: list[str]
    found_runs: int
    unlinked: bool  # some run IDs are shown without a link: show them as text too
    csv: Memo
    missing_txt: Memo
    runs: RunsResult | None = None  # asked once per result; None: not asked, or run state off
    # The input table's other columns (contract §8), in the table and both CSVs.
    user_columns: KeptRows | None = None
    file_name: str | None = None  # the uploaded file it came from; None: pasted text
    shared: shared_results.Shared[BulkResult] | None = None  # its link, once shared
    display: dict[int, pa.Table] | None = None  # shown tables by id of their source table


def page() -> None:
    """The page ``pages/bulk.py`` runs: inputs, then counts, downloads and the table.

    The pasted text, the chosen column and the filter persist for the session
    (``persist_state``), and the result is kept in session state: Bulk → Lookup → Bulk
    shows the same result without resolving again. A file upload does not survive a
    page switch (Streamlit drops the file), so its result is shown as kept, "from
    <file name>", until the user attaches, pastes or clears.
    """
    ctx = shell.page_context()
    st.title("Bulk resolve")
    paste, upload = st.columns([3, 2], gap="medium")
    with paste:
        text = st.text_area(
            "IDs",
            key=TEXT_KEY,
            height=200,
            placeholder="Paste IDs in any shape: one per line, comma/semicolon/tab separated, "
            'a JSON array, a spreadsheet column, `pym_…`, "pym_…", payment:pym_…\n'
            "Press Ctrl+Enter (or click outside) to resolve.",
            persist_state="session",
            on_change=_forget_kept_file,
        )
        render.focus_input("IDs", tag="textarea")
    with upload:
        file = st.file_uploader(
            "…or a .txt / .csv file",
            type=["txt", "csv", "tsv"],
            key=FILE_KEY,
            help="For a table, the ID column is guessed; you can pick another. Its other "
            "columns are kept: they follow ours in the table and the CSV.",
            on_change=_forget_kept_file,
        )
        st.caption(f"Up to {ctx.settings.max_ids:,} unique IDs per request.")

    source = read_input(text, file)
    # Pasting (then Ctrl+Enter or clicking outside) resolves on its own; the button
    # does too, and for an input already resolved it queries Redis again.
    again = st.button(
        "Resolve",
        type="primary",
        icon=":material/play_arrow:",
        help="Look every ID up now (again, if this list was resolved already)",
    )
    token = st.query_params.get(shared_results.PARAM)
    kept = _kept_file_result() if file is None else None
    if token is not None and (source is not None or again):
        del st.query_params[shared_results.PARAM]  # the user's own input replaces it
        token = None
    if kept is not None and token is None:
        render_kept(ctx, kept, again=again)
    elif source is None:
        if token is not None:
            render_shared(ctx, token)
        else:
            st.info(
                "Paste IDs or attach a file to find the run behind each one. Results stay "
                "for the whole session, also when you switch pages, and **Share** makes a "
                "link for a colleague.",
                icon=":material/checklist:",
            )
    elif len(source.data) > MAX_INPUT_BYTES:
        st.error(
            f"The input is {len(source.data) / 1e6:,.1f} MB; at most "
            f"{MAX_INPUT_BYTES // 2**20} MB is read. Split the list "
            f"(the limit is {ctx.settings.max_ids:,} IDs per request).",
            icon=":material/block:",
        )
    else:
        if file is not None and (text or "").strip():
            st.caption(
                "Reading the attached file; the pasted text is ignored while it is attached."
            )
        with context.edge():
            render_input(ctx, source, again=again)


def _forget_kept_file() -> None:
    """Callback of both inputs: with no file attached, a new paste or a removed attachment
    ends a kept file's result (an attached file's result is ``resolve``'s business: text
    edited beside it must not cost a new resolve)."""
    stored: BulkResult | None = st.session_state.get(_RESULT_STATE)
    if stored is not None and stored.file_name is not None and not st.session_state.get(FILE_KEY):
        st.session_state.pop(_RESULT_STATE, None)


def _kept_file_result() -> BulkResult | None:
    """This session's result of a file that is no longer attached (Streamlit drops an
    upload when its page is left); None when the stored result came from pasted text."""
    stored: BulkResult | None = st.session_state.get(_RESULT_STATE)
    return stored if stored is not None and stored.file_name is not None else None


def render_kept(ctx: AppContext, result: BulkResult, *, again: bool) -> None:
    """A file's result kept for the session, with where it came from and a way out."""
    with st.container(horizontal=True, vertical_alignment="center", gap="small"):
        st.info(
            f"Showing the result from {record_text(result.file_name or '', code=True)}, resolved "
            "earlier in this session (the file itself is not kept across pages). Attach a file "
            "or edit the pasted text to resolve something else.",
            icon=":material/history:",
        )
        st.button("Clear", key=CLEAR_KEY, on_click=_forget_kept_file, icon=":material/close:")
    if again:
        st.caption("**Resolve** needs the file: attach it again to look its IDs up anew.")
    with context.edge():
        render_result(ctx, result)


def render_shared(ctx: AppContext, token: str) -> None:
    """A result a colleague shared (``/bulk?r=<token>``), or why the link shows nothing."""
    shared = shared_results.STORE.lookup(token)
    if shared is None:
        hours = shared_results.KEEP_SECONDS // 3600
        st.warning(
            f"This shared link has expired or is unknown: shared results are kept {hours} h "
            "and are forgotten when the app restarts. Ask for a new link, or paste the IDs.",
            icon=":material/link_off:",
        )
        return
    made = time.strftime("%Y-%m-%d %H:%M", time.gmtime(shared.created))
    until = time.strftime("%Y-%m-%d %H:%M", time.gmtime(shared.expires))
    st.info(
        f"Shared by **{record_text(shared.by, 100)}** at {made} UTC: "
        f"{record_text(shared.label)}. The link works until {until} UTC. Paste IDs or attach "
        "a file to resolve your own.",
        icon=":material/share:",
    )
    with context.edge():
        render_result(ctx, shared.value, share=False)


def render_input(ctx: AppContext, source: BulkInput, *, again: bool) -> None:
    """Parse (column picker for a table), resolve, then counts, downloads and the table."""
    parsed, column = choose_column(ctx, source)
    if not parsed.queries:  # an empty file, or only separators: nothing to look up
        where = "the attached file" if source.file_name is not None else "the pasted text"
        st.info(
            f"No IDs in {where}: it is empty or holds only separators and whitespace.",
            icon=":material/inbox:",
        )
        return
    working = st.empty()  # the resolve's progress: a slot on every run (see render_result)
    render_result(ctx, resolve(ctx, source, parsed, column, working, again=again))


def render_result(ctx: AppContext, result: BulkResult, *, share: bool = True) -> None:
    """Counts, run state, downloads, the share link and the table of one result.

    ``share`` False: a result someone shared; it is shown as it was shared (trigger.dev
    is not asked again for it, and it is not shared on).
    """
    if not result.resolution.complete:
        st.warning(
            f"Incomplete: {record_text(result.resolution.error)} Rows that were not read "
            "are marked `error`; the others are kept. Press **Resolve** to retry.",
            icon=":material/warning:",
        )
    render_counts(result)
    # Slots every run makes, filled only by the run that does the work, so the elements
    # below keep their places (docs/architecture.md, "Views draw the same page on every
    # run"). An empty slot takes no room; alone in `section` it would give it a gap.
    asking = st.empty()
    section = st.container()
    preview = st.empty()
    if share and result.runs is None and runs.enabled(ctx):
        # The Redis rows stay on screen while trigger.dev answers (no widgets here: the
        # filter and downloads come once, below, with the run columns).
        shown = displayed(result, result.table)
        preview.dataframe(
            shown,
            hide_index=True,
            column_order=[name for name in _order(result, None) if name in shown.column_names],
            column_config=_column_config(result),
            height=420 if result.table.num_rows > 10 else "auto",
            placeholder=EMPTY_CELL,
        )
        result.runs = ask_runs(ctx, result, asking)
        preview.empty()
    if result.runs is not None:
        with section:
            render_runs(result.runs)
    render_downloads(result, ctx)
    if share:
        render_share(ctx, result)
    render_table(result)


def render_share(ctx: AppContext, result: BulkResult) -> None:
    """**Share**: a link to this result for colleagues who are signed in, kept a day."""
    if result.shared is None or shared_results.STORE.lookup(result.shared.token) is None:
        st.button(
            "Share",
            key=SHARE_KEY,
            icon=":material/share:",
            on_click=_share,
            args=(result,),
            help=f"A link to this result for signed-in colleagues, kept "
            f"{shared_results.KEEP_SECONDS // 3600} h",
        )
        if result.shared is not None:
            st.caption("The earlier link has expired: **Share** makes a new one.")
        return
    shared = result.shared
    until = time.strftime("%Y-%m-%d %H:%M", time.gmtime(shared.expires))
    st.code(share_link(shared.token), language=None)
    st.caption(
        f"Copy link (icon on the right): anyone signed in can open this result until {until} "
        "UTC. It is kept in the app's memory: a restart forgets it."
    )


def _share(result: BulkResult) -> None:
    """The Share button's callback: keep the result under a new token."""
    parsed = result.parsed
    label = (
        f"{parsed.unique:,} IDs from {result.file_name}"
        if result.file_name is not None
        else f"{parsed.unique:,} pasted IDs"
    )
    by = str(st.session_state.get("username") or "someone")
    shared = shared_results.STORE.share(result, rows=result.table.num_rows, by=by, label=label)
    if shared is None:
        st.toast(
            f"Too large to share: at most {shared_results.MAX_ROWS:,} rows are kept. "
            "Download the CSV instead.",
            icon=":material/block:",
        )
        return
    result.shared = shared


def share_link(token: str) -> str:
    """The absolute link to a shared result (relative when the browser's URL is unknown)."""
    return render.this_page_url({shared_results.PARAM: token}, fallback_path="/bulk")


def read_input(text: str | None, upload: Any) -> BulkInput | None:
    """The file when one is attached, else the pasted text; None when both are empty."""
    if upload is not None:
        data: str | bytes = upload.getvalue()
        name = str(upload.name)
    else:
        data = text or ""
        name = None
        if not data.strip():
            return None
    raw = data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass")
    return BulkInput(data, hashlib.blake2b(raw, digest_size=16).hexdigest(), name)


def _parse(ctx: AppContext, source: BulkInput, column: str | None) -> ParsedIds:
    """``parse_ids`` once per (input, column); errors are remembered too."""
    memo: dict[tuple[str, str | None, str], ParsedIds | TelemetryError]
    memo = st.session_state.setdefault(_PARSE_STATE, {})
    key = (source.digest, column, ctx.key)
    if key not in memo:
        if any(old[0] != source.digest for old in memo):
            memo.clear()  # only the current input's parses are kept
        settings = ctx.settings
        try:
            memo[key] = parse_ids(
                source.data,
                settings.registry,
                namespace=settings.telemetry_namespace,
                column=column,
                max_ids=settings.max_ids,
            )
        except TelemetryError as exc:
            memo[key] = exc
    parsed = memo[key]
    if isinstance(parsed, TelemetryError):
        raise parsed
    return parsed


def choose_column(ctx: AppContext, source: BulkInput) -> tuple[ParsedIds, str | None]:
    """Parse with the guessed ID column; for a table, a picker to read another column."""
    guess = _parse(ctx, source, None)
    if not guess.columns:
        return guess, None
    options = list(guess.columns)
    if guess.column is None:
        options.insert(0, EVERY_COLUMN)
    default = guess.column if guess.column is not None else EVERY_COLUMN
    where = f" of {record_text(source.file_name, code=True)}" if source.file_name else ""
    chosen = st.selectbox(
        f"ID column{where} (guessed: {record_text(default)})",
        options,
        index=options.index(default),
        key=f"bulk_column_{source.digest[:12]}",
        help="The input is a table; pick the column that holds the IDs.",
        persist_state="session",
    )
    if chosen == default:
        return guess, guess.column
    return _parse(ctx, source, chosen), chosen


def resolve(
    ctx: AppContext,
    source: BulkInput,
    parsed: ParsedIds,
    column: str | None,
    working: Any,
    *,
    again: bool = False,
) -> BulkResult:
    """The result for this input: from session state, or resolved now (with progress in
    ``working``, an ``st.empty()`` cleared when done)."""
    key = f"{source.digest}:{column!r}:{ctx.key}"
    stored: BulkResult | None = st.session_state.get(_RESULT_STATE)
    if stored is not None and stored.key == key and not again:
        return stored
    st.session_state.pop(_RESULT_STATE, None)  # never show an old input's rows
    box = working.container()
    bar = None
    if parsed.unique >= PROGRESS_FROM:
        bar = box.progress(0.0, text=f"Resolving {parsed.unique:,} IDs…")

    shown = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        # Each update is a message to the browser: a few a second is all anyone sees, and
        # the last one would be replaced at once by the results.
        if bar is None or done >= total or time.monotonic() - shown[0] < PROGRESS_EVERY:
            return
        shown[0] = time.monotonic()
        bar.progress(done / max(total, 1), text=f"Resolving… {done:,} of {total:,} keys read")

    runs_pasted = sum(1 for query in parsed.queries if query.kind == RUN)
    note = box.empty() if runs_pasted else None

    def scan_progress(scanned: int) -> None:
        if note is None or time.monotonic() - shown[0] < PROGRESS_EVERY:
            return
        shown[0] = time.monotonic()
        note.caption(
            f"Looking for the entities of {runs_pasted:,} pasted run ID"
            f"{'s' if runs_pasted != 1 else ''}… {scanned:,} keys scanned"
        )

    try:
        resolution = ctx.reader.resolve(
            parsed.queries, progress=progress, scan_progress=scan_progress
        )
    finally:
        working.empty()
    result = _result(key, parsed, resolution, ctx)
    result.file_name = source.file_name
    st.session_state[_RESULT_STATE] = result
    return result


def _result(key: str, parsed: ParsedIds, resolution: Resolution, ctx: AppContext) -> BulkResult:
    # Built from the resolution's rows: no Result objects for a page of 100,000 rows.
    table, found_runs, missing = bulk_table(resolution)
    user_columns = kept_rows(parsed, resolution)
    table = with_kept(table, user_columns)
    counts = resolution.counts
    template = ctx.settings.runs_list_url_template
    found = len(found_runs) > 0
    runs_list = runs_list_urls(found_runs.to_pylist(), template) if template and found else []
    missing_text = "\n".join(missing) + ("\n" if missing else "")
    return BulkResult(
        key=key,
        parsed=parsed,
        resolution=resolution,
        table=table,
        counts=counts,
        missing=missing,
        runs_list=runs_list,
        found_runs=pc.count_distinct(found_runs).as_py() if found else 0,
        unlinked="run_id" in table.column_names,
        csv=Memo(lambda: with_kept_csv(results_csv(resolution), user_columns).encode("utf-8")),
        missing_txt=Memo(lambda: missing_text.encode("utf-8")),
        user_columns=user_columns,
    )


def ask_runs(ctx: AppContext, result: BulkResult, asking: Any) -> RunsResult | None:
    """Ask trigger.dev once about every found row's run, with a progress bar in ``asking``
    (an ``st.empty()``).

    ``resolution_runs`` never raises for the API (its failures are ``Unavailable``
    rows); anything else going wrong here marks every found row unavailable with the
    error's text, so the Redis rows are kept whatever happens.
    """
    resolution = result.resolution
    total = result.found_runs
    label = f"Asking trigger.dev about {total:,} run{'s' if total != 1 else ''}…"
    bar = asking.progress(0.0, text=label) if total else None
    shown = [time.monotonic()]

    def progress(done: int, of: int) -> None:
        if bar is None or time.monotonic() - shown[0] < PROGRESS_EVERY:
            return
        shown[0] = time.monotonic()
        bar.progress(min(done / max(of, 1), 1.0), text=f"{label} {done:,} of {of:,} known")

    started = time.monotonic()
    requests = 0
    demo = runs.is_demo_api(ctx)
    try:
        api = runs.client(ctx)
        if api is None:
            return None
        outcomes = resolution_runs(api, resolution, on_progress=progress)
        requests = api.requests_made
    except Exception as exc:  # the edge: the Redis rows must survive any failure
        LOG.exception("run state for a bulk resolve failed")
        outcomes = _all_unavailable(resolution, _reason(ctx, exc))
    finally:
        if bar is not None:
            bar.empty()
    seconds = time.monotonic() - started
    view = run_table(result.table, resolution.column("run_id"), outcomes)
    template = ctx.settings.runs_list_url_template
    failed_ids = view.failed_run_ids
    return RunsResult(
        outcomes=outcomes,
        view=view,
        failed_rows=sum(view.counts.get(s, 0) for s in FAILED_STATUSES),
        unavailable_rows=view.counts.get(Unavailable.status, 0),
        failed_list=runs_list_urls(failed_ids, template) if template and failed_ids else [],
        seconds=seconds,
        requests=requests,
        as_of=time.time(),
        demo=demo,
        csv=Memo(
            lambda: with_kept_csv(runs_csv(resolution, outcomes), result.user_columns).encode(
                "utf-8"
            )
        ),
    )


def _reason(ctx: AppContext, exc: Exception) -> str:
    """An unexpected failure's text for the page (no traceback; the key never shown)."""
    text = str(exc) if isinstance(exc, TelemetryError) else f"{type(exc).__name__}: {exc}"
    key = ctx.settings.trigger_secret_key
    if key is not None and key.get_secret_value():
        text = text.replace(key.get_secret_value(), "***")
    return f"run state could not be learned: {text}"


def _all_unavailable(resolution: Resolution, reason: str) -> list[RunOutcome | None]:
    outcome = Unavailable(reason)
    return [
        outcome if status is Status.FOUND and run_id else None
        for status, run_id in zip(
            resolution.column("status"), resolution.column("run_id"), strict=True
        )
    ]


def render_runs(result: RunsResult) -> None:
    """The run section: why some states are unavailable, then the counts by run status."""
    view = result.view
    if not view.counts:
        return
    if view.unavailable:
        reasons = list(view.unavailable.items())
        lines = [
            f"Run state unavailable for {result.unavailable_rows:,} "
            f"row{'s' if result.unavailable_rows != 1 else ''}: " + record_text(reasons[0][0])
        ]
        for reason, rows in reasons[1:REASONS_SHOWN]:
            lines.append(f"{rows:,} more: " + record_text(reason))
        if len(reasons) > REASONS_SHOWN:
            lines.append(f"…and {len(reasons) - REASONS_SHOWN:,} other reasons (see Run error).")
        lines.append("The Redis results below are complete; press **Resolve** to ask again.")
        st.warning("  \n".join(lines), icon=":material/cloud_off:")
    if view.unknown:
        st.info(
            "trigger.dev sent a run status this app does not know: "
            + ", ".join(record_text(s, code=True) for s in view.unknown)
            + ". It is shown as sent; the app may need an update.",
            icon=":material/help:",
        )
    parts = [
        f"{rows:,} {record_text(RUN_LABELS.get(status, status))}"
        for status, rows in view.counts.items()
    ]
    where = "the demo stand-in" if result.demo else "trigger.dev"
    as_of = time.strftime("%H:%M:%S", time.gmtime(result.as_of))
    st.markdown("**Runs:** " + " · ".join(parts))
    st.caption(
        f"Run states from {where} as of {as_of} UTC, learned in {result.seconds:,.1f} s "
        f"({result.requests:,} API request{'s' if result.requests != 1 else ''}); "
        "**Resolve** asks again."
    )


COLUMN_CONFIG = {
    "query": st.column_config.TextColumn("Query", help="The ID as pasted"),
    "lookup": st.column_config.LinkColumn(
        "Lookup",
        display_text="Open",
        width="small",
        help="Opens this row's entity on the Lookup page (in a new tab)",
    ),
    "status": st.column_config.TextColumn("Status"),
    "entity_type": st.column_config.TextColumn("Entity type"),
    "entity_id": st.column_config.TextColumn(
        "Entity ID", help="Shown where it differs from the query as pasted"
    ),
    # A fixed width: sized from the first rows (maybe not found, so empty) it cut run IDs.
    "run": st.column_config.LinkColumn(
        "Run",
        display_text=RUN_LINK_TEXT,
        width=RUN_COLUMN_PX,
        help="Opens the run in the Trigger.dev dashboard",
    ),
    "run_id": st.column_config.TextColumn(
        "Run ID (no link)", help="Run IDs not of the form run_<letters/digits> get no link"
    ),
    "organization_id": st.column_config.TextColumn("Organization"),
    "processed_at": st.column_config.DatetimeColumn(
        "Processed (UTC)", format="YYYY-MM-DD HH:mm:ss", timezone="UTC"
    ),
    "inferred": st.column_config.CheckboxColumn(
        "Inferred", help="No timestamp in the record: time inferred from the key's TTL"
    ),
    "expires_at": st.column_config.DatetimeColumn(
        "Expires (UTC)", format="YYYY-MM-DD HH:mm:ss", timezone="UTC"
    ),
    "detail": st.column_config.TextColumn("Detail", width="large"),
    "run_status": st.column_config.TextColumn(
        "Run status",
        help="trigger.dev's status as the API returned it; not_in_environment: the API does "
        "not know the run in this key's environment; unavailable: it could not be learned "
        "(see Run error)",
    ),
    "task": st.column_config.TextColumn("Task"),
    "run_error": st.column_config.TextColumn(
        "Run error", width="large", help="The run's error message, or why its state is unknown"
    ),
    "run_finished_at": st.column_config.DatetimeColumn(
        "Run finished (UTC)", format="YYYY-MM-DD HH:mm:ss", timezone="UTC"
    ),
}
# The run link right after the status: it is what people come for, and it stays
# visible on a laptop screen without scrolling sideways.
_ORDER = (
    "query",
    "lookup",
    "status",
    "run",
    "entity_type",
    "entity_id",
    "organization_id",
    "processed_at",
    "inferred",
    "expires_at",
    "detail",
)
# With run state: its status and error beside the run link (the "why did it fail" answer).
_RUN_ORDER = ("run_status", "run_error", "task")


def _order(result: BulkResult, runs_result: RunsResult | None) -> list[str]:
    order = list(_ORDER)
    if result.unlinked:
        order.insert(order.index("entity_id") + 1, "run_id")
    if runs_result is not None:
        at = order.index("run") + 1
        order[at:at] = _RUN_ORDER
        order.insert(order.index("detail"), "run_finished_at")
    if result.user_columns is not None:
        order.extend(kept_key(name) for name in result.user_columns.names)  # after ours
    return order


def _column_config(result: BulkResult) -> dict[str, Any]:
    """``COLUMN_CONFIG`` and the user's own columns, labelled with their CSV names."""
    if result.user_columns is None:
        return COLUMN_CONFIG
    kept = {
        kept_key(name): st.column_config.TextColumn(name, help="From your input's own columns")
        for name in result.user_columns.names
    }
    return {**COLUMN_CONFIG, **kept}


def render_counts(result: BulkResult) -> None:
    parsed, counts = result.parsed, result.counts
    invalid = counts[Status.INVALID_ID.value] + counts[Status.INVALID_RECORD.value]
    cells = [
        ("Pasted", parsed.tokens, "IDs read from the input, duplicates included"),
        ("Unique", parsed.unique, "Distinct IDs looked up"),
        ("Duplicates dropped", parsed.duplicates, "Repeats of an ID already in the list"),
        ("Found", counts[Status.FOUND.value], "Rows with a run"),
        ("Not found", counts[Status.NOT_FOUND.value], "No key: never processed, or expired"),
        ("Invalid", invalid, "Not an ID, or the stored value is not a valid record"),
    ]
    if counts[Status.ERROR.value]:
        cells.append(("Errors", counts[Status.ERROR.value], "Not read: Redis failed"))
    if parsed.ignored:
        help_text = "Words that cannot be IDs (no '_', no digit): not looked up"
        cells.append(("Set aside", parsed.ignored, help_text))
    with st.container(horizontal=True, gap="medium"):
        for label, value, help_text in cells:
            st.metric(label, f"{value:,}", help=help_text, border=True)
    if parsed.ignored:
        with st.expander(f"Set aside ({parsed.ignored:,}): words that cannot be IDs"):
            st.caption(
                "Text around the IDs (no '_' and no digit): never looked up, never counted as "
                "missing."
            )
            st.code(" ".join(parsed.ignored_words), language=None, wrap_lines=True)
    rows = len(result.resolution) - parsed.ignored
    if rows > parsed.unique:
        st.caption(
            f"{rows - parsed.unique:,} extra rows: IDs with no known prefix that exist under "
            "several entity types, and run IDs several entities point to, get one row per match."
        )


def render_table(result: BulkResult) -> None:
    counts, runs_result = result.counts, result.runs
    table = displayed(result, result.table if runs_result is None else runs_result.view.table)
    sizes = {
        name: (table.num_rows if not statuses else sum(counts[s] for s in statuses))
        for name, (_, statuses) in FILTERS.items()
    }
    labels = {name: label for name, (label, _) in FILTERS.items()}
    filters = {name: ("status", statuses) for name, (_, statuses) in FILTERS.items()}
    if runs_result is not None:
        sizes["failed_runs"] = runs_result.failed_rows
        sizes["runs_unavailable"] = runs_result.unavailable_rows
        for name, (label, statuses) in RUN_FILTERS.items():
            labels[name] = label
            filters[name] = ("run_status", statuses)
    options = [name for name in filters if name == "all" or sizes[name]]
    current = st.session_state.get(FILTER_KEY)
    if current is not None and current not in options:
        st.session_state[FILTER_KEY] = "all"
    choice = st.segmented_control(
        "Show",
        options,
        default="all",
        format_func=lambda name: f"{labels[name]} ({sizes[name]:,})",
        key=FILTER_KEY,
    )
    column, statuses = filters[choice or "all"]
    shown = table
    if statuses:
        shown = table.filter(pc.fill_null(pc.is_in(table[column], pa.array(statuses)), False))
    st.dataframe(
        shown,
        hide_index=True,
        column_order=[name for name in _order(result, runs_result) if name in table.column_names],
        column_config=_column_config(result),
        height=420 if shown.num_rows > 10 else "auto",
        placeholder=EMPTY_CELL,
    )


# Characters of an ID that would end or change a ?id= value; "%" first, so that the
# escapes added after it are not escaped again.
_URL_ESCAPES = (("%", "%25"), ("&", "%26"), ("#", "%23"), ("+", "%2B"), (" ", "%20"))
_URL_SPECIAL = tuple(char.encode() for char, _ in _URL_ESCAPES)
# What the grid shows for a missing value (its default is the text "None").
EMPTY_CELL = ""


def displayed(result: BulkResult, table: pa.Table) -> pa.Table:
    """What the grid shows of ``table`` (built once per result and table):

    - a **Lookup** link per row with an entity ID (``./?id=<type>:<id>``: the Lookup page,
      under any base URL path, of exactly that row's key);
    - **Entity ID** only where it differs from Query (the usual bare ID is its own entity
      ID), and no column at all when it never does.

    ~20 ms for 100,000 rows; empty cells are the grid's ``placeholder``, no copy.
    """
    cache = result.display if result.display is not None else {}
    result.display = cache
    shown = cache.get(id(table))
    if shown is not None:
        return shown
    entity_type = table["entity_type"]
    entity_id = table["entity_id"]
    link = pc.binary_join_element_wise("./?id=", entity_type.cast(pa.string()), ":", entity_id, "")
    if _may_contain(entity_type, _URL_SPECIAL) or _may_contain(entity_id, _URL_SPECIAL):
        for char, escape in _URL_ESCAPES:
            link = pc.replace_substring(link, char, escape)
    same = pc.fill_null(pc.equal(table["query"], entity_id), True)
    shown = table.add_column(table.column_names.index("query") + 1, "lookup", link)
    at = shown.column_names.index("entity_id")
    if pc.all(same).as_py():
        shown = shown.remove_column(at)
    else:
        shown = shown.set_column(at, "entity_id", pc.if_else(same, None, entity_id))
    cache[id(table)] = shown
    return shown


def _may_contain(column: pa.ChunkedArray, needles: tuple[bytes, ...]) -> bool:
    """Whether a text column (plain or dictionary) may hold any of ``needles``: a byte
    search of its data buffers, ~20x cheaper than a regex per cell. Bytes outside a
    slice can only say yes for nothing (then the escapes change nothing)."""
    for chunk in column.chunks:
        values = chunk.dictionary if pa.types.is_dictionary(chunk.type) else chunk
        data = values.buffers()[2]
        if data is not None:
            raw = data.to_pybytes()
            if any(needle in raw for needle in needles):
                return True
    return False


def render_downloads(result: BulkResult, ctx: AppContext) -> None:
    missing = result.missing
    runs_result = result.runs
    if runs_result is None:
        csv, what, command = result.csv, "the contract's columns", "resolve"
    else:
        csv, what, command = runs_result.csv, "the six run-state columns too", "resolve --runs"
    if result.user_columns is not None:
        what += " and your input's own columns after them"
        command += " --keep-columns"
    with st.container(horizontal=True, gap="small"):
        download(
            "Results CSV",
            csv,
            file_name="run-lookup-results.csv",
            mime="text/csv",
            key="bulk_download_csv",
            help=f"Every row, with {what} (formula-safe), as `python -m telemetry {command}`",
        )
        if missing:
            download(
                f"Not-found IDs ({len(missing):,})",
                result.missing_txt,
                file_name="run-lookup-not-found.txt",
                mime="text/plain",
                key="bulk_download_missing",
                help="One ID per line",
            )
    if missing:
        with st.expander(f"Copy missing IDs ({len(missing):,})"):
            shown = missing[:COPY_LINES]
            st.code("\n".join(shown), language=None, height=240 if len(shown) > 10 else "content")
            if len(missing) > COPY_LINES:
                st.caption(
                    f"First {COPY_LINES:,} of {len(missing):,}; the .txt download has them all."
                )
    if result.runs_list:
        _open_links(f"{result.found_runs:,} found runs", result.found_runs, result.runs_list)
    if runs_result is not None and runs_result.failed_list:
        failed = len(runs_result.view.failed_run_ids)
        noun = f"{failed:,} failed run{'s' if failed != 1 else ''}"
        _open_links(noun, failed, runs_result.failed_list)


def _open_links(noun: str, runs_count: int, urls: list[str]) -> None:
    """One "Open the … in the dashboard" button, or an expander of list views when the runs
    take several."""
    if len(urls) == 1:
        st.link_button(f"Open the {noun} in the dashboard", urls[0], icon=":material/open_in_new:")
        return
    per = -(-runs_count // len(urls))
    with st.expander(f"Open the {noun} in the dashboard ({len(urls)} views of up to ~{per} runs)"):
        with st.container(horizontal=True, gap="small"):
            for i, url in enumerate(urls[:LIST_LINKS], start=1):
                st.link_button(f"View {i}", url, icon=":material/open_in_new:")
        if len(urls) > LIST_LINKS:
            st.caption(f"First {LIST_LINKS} views shown; filter the list or use the CSV for more.")

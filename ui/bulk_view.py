"""The Bulk resolve page (``pages/bulk.py`` calls :func:`page`): input → parse →
resolve, memoised per input.

A result lives in ``st.session_state`` under the hash of its input (text or
file bytes, chosen column, settings), so a filter change or a download reruns
the page without touching Redis or re-parsing; download files are built on the
first click only (``render.Memo``).
"""

from __future__ import annotations

import hashlib
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

from . import context, shell
from .context import AppContext
from .format import record_text
from .render import Memo, download
from .tables import bulk_table

TEXT_KEY = "bulk_text"
FILE_KEY = "bulk_file"
FILTER_KEY = "bulk_filter"
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
EVERY_COLUMN = "(every column)"
# The run ID is the last run_… in the URL, whatever the configured template.
RUN_LINK_TEXT = r".*(run_[A-Za-z0-9]+)"
FILTERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "all": ("All", ()),
    "found": ("Found", (Status.FOUND.value,)),
    "not_found": ("Not found", (Status.NOT_FOUND.value,)),
    "invalid": ("Invalid", (Status.INVALID_ID.value, Status.INVALID_RECORD.value)),
    "error": ("Errors", (Status.ERROR.value,)),
}


@dataclass(slots=True)
class BulkInput:
    data: str | bytes
    digest: str
    file_name: str | None = None


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


def page() -> None:
    """The page ``pages/bulk.py`` runs: inputs, then counts, downloads and the table."""
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
        )
    with upload:
        file = st.file_uploader(
            "…or a .txt / .csv file",
            type=["txt", "csv", "tsv"],
            key=FILE_KEY,
            help="For a table, the ID column is guessed; you can pick another.",
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
    if source is None:
        st.info(
            "Paste IDs or attach a file to find the run behind each one. Results stay here while "
            "you filter and download them.",
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
    result = resolve(ctx, source, parsed, column, again=again)
    if not result.resolution.complete:
        st.warning(
            f"Incomplete: {record_text(result.resolution.error)} Rows that were not read "
            "are marked `error`; the others are kept. Press **Resolve** to retry.",
            icon=":material/warning:",
        )
    render_counts(result)
    render_downloads(result, ctx)
    render_table(result)


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
    )
    if chosen == default:
        return guess, guess.column
    return _parse(ctx, source, chosen), chosen


def resolve(
    ctx: AppContext,
    source: BulkInput,
    parsed: ParsedIds,
    column: str | None,
    *,
    again: bool = False,
) -> BulkResult:
    """The result for this input: from session state, or resolved now (with progress)."""
    key = f"{source.digest}:{column!r}:{ctx.key}"
    stored: BulkResult | None = st.session_state.get(_RESULT_STATE)
    if stored is not None and stored.key == key and not again:
        return stored
    st.session_state.pop(_RESULT_STATE, None)  # never show an old input's rows
    bar = None
    if parsed.unique >= PROGRESS_FROM:
        bar = st.progress(0.0, text=f"Resolving {parsed.unique:,} IDs…")

    shown = [time.monotonic()]

    def progress(done: int, total: int) -> None:
        # Each update is a message to the browser: a few a second is all anyone sees, and
        # the last one would be replaced at once by the results.
        if bar is None or done >= total or time.monotonic() - shown[0] < PROGRESS_EVERY:
            return
        shown[0] = time.monotonic()
        bar.progress(done / max(total, 1), text=f"Resolving… {done:,} of {total:,} keys read")

    resolution = ctx.reader.resolve(parsed.queries, progress=progress)
    if bar is not None:
        bar.empty()
    result = _result(key, parsed, resolution, ctx)
    st.session_state[_RESULT_STATE] = result
    return result


def _result(key: str, parsed: ParsedIds, resolution: Resolution, ctx: AppContext) -> BulkResult:
    # Built from the resolution's rows: no Result objects for a page of 100,000 rows.
    table, found_runs, missing = bulk_table(resolution)
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
        csv=Memo(lambda: results_csv(resolution).encode("utf-8")),
        missing_txt=Memo(lambda: missing_text.encode("utf-8")),
    )


COLUMN_CONFIG = {
    "query": st.column_config.TextColumn("Query", help="The ID as pasted"),
    "status": st.column_config.TextColumn("Status"),
    "entity_type": st.column_config.TextColumn("Entity type"),
    "entity_id": st.column_config.TextColumn("Entity ID"),
    "run": st.column_config.LinkColumn(
        "Run", display_text=RUN_LINK_TEXT, help="Opens the run in the Trigger.dev dashboard"
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
}
# The run link right after the status: it is what people come for, and it stays
# visible on a laptop screen without scrolling sideways.
_ORDER = (
    "query",
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
    with st.container(horizontal=True, gap="medium"):
        for label, value, help_text in cells:
            st.metric(label, f"{value:,}", help=help_text, border=True)
    rows = len(result.resolution)
    if rows > parsed.unique:
        st.caption(
            f"{rows - parsed.unique:,} extra rows: IDs with no known prefix "
            "that exist under several entity types get one row per match."
        )


def render_table(result: BulkResult) -> None:
    table, counts = result.table, result.counts
    sizes = {
        name: (table.num_rows if not statuses else sum(counts[s] for s in statuses))
        for name, (_, statuses) in FILTERS.items()
    }
    options = [name for name in FILTERS if name == "all" or sizes[name]]
    current = st.session_state.get(FILTER_KEY)
    if current is not None and current not in options:
        st.session_state[FILTER_KEY] = "all"
    choice = st.segmented_control(
        "Show",
        options,
        default="all",
        format_func=lambda name: f"{FILTERS[name][0]} ({sizes[name]:,})",
        key=FILTER_KEY,
    )
    statuses = FILTERS[choice or "all"][1]
    shown = table if not statuses else table.filter(pc.is_in(table["status"], pa.array(statuses)))
    order = list(_ORDER)
    if result.unlinked:
        order.insert(5, "run_id")
    st.dataframe(
        shown,
        hide_index=True,
        column_order=order,
        column_config=COLUMN_CONFIG,
        height=420 if shown.num_rows > 10 else "auto",
    )


def render_downloads(result: BulkResult, ctx: AppContext) -> None:
    missing = result.missing
    with st.container(horizontal=True, gap="small"):
        download(
            "Results CSV",
            result.csv,
            file_name="run-lookup-results.csv",
            mime="text/csv",
            key="bulk_download_csv",
            help="Every row, with the contract's columns (formula-safe)",
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
    urls = result.runs_list
    if urls:
        per = -(-result.found_runs // len(urls))
        if len(urls) == 1:
            st.link_button(
                f"Open the {result.found_runs:,} found runs in the dashboard",
                urls[0],
                icon=":material/open_in_new:",
            )
        else:
            with st.expander(
                f"Open the {result.found_runs:,} found runs in the dashboard "
                f"({len(urls)} views of up to ~{per} runs)"
            ):
                with st.container(horizontal=True, gap="small"):
                    for i, url in enumerate(urls[:LIST_LINKS], start=1):
                        st.link_button(f"View {i}", url, icon=":material/open_in_new:")
                if len(urls) > LIST_LINKS:
                    st.caption(
                        f"First {LIST_LINKS} views shown; filter the list or use the CSV for more."
                    )
    elif result.found_runs and not ctx.settings.runs_list_url_template:
        st.caption(
            "Set `RUNS_LIST_URL_TEMPLATE` to open the found runs in the dashboard's list view."
        )

"""The Bulk resolve page's machinery: input → parse → resolve, memoised per input.

A result lives in ``st.session_state`` under the hash of its input (text or
file bytes, chosen column, settings), so a filter change or a download reruns
the page without touching Redis or re-parsing; download files are built on the
first click only (``render.Memo``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import streamlit as st

from telemetry import (
    ParsedIds,
    Resolution,
    Result,
    Status,
    TelemetryError,
    parse_ids,
    results_csv,
    runs_list_urls,
)
from telemetry.reader import (
    DETAIL,
    ENTITY_ID,
    ENTITY_TYPE,
    EXPIRES_AT,
    ORGANIZATION_ID,
    PROCESSED_AT,
    PROCESSED_AT_INFERRED,
    QUERY,
    ROW_FIELDS,
    RUN_ID,
    RUN_URL,
    STATUS,
    result_row,
)

from .context import AppContext
from .format import md_code, md_escape
from .render import Memo, download

TEXT_KEY = "bulk_text"
FILE_KEY = "bulk_file"
FILTER_KEY = "bulk_filter"
_PARSE_STATE = "_bulk_parsed"
_RESULT_STATE = "_bulk_result"
# Bytes read at most: far beyond 100,000 IDs in any table; refused before parsing.
MAX_INPUT_BYTES = 64 * 1024 * 1024
PROGRESS_FROM = 1_000  # queries: smaller inputs resolve in one round trip
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
    where = f" of {md_code(source.file_name)}" if source.file_name else ""
    chosen = st.selectbox(
        f"ID column{where} (guessed: {md_escape(default)})",
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

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.progress(done / max(total, 1), text=f"Resolving… {done:,} of {total:,} keys read")

    resolution = ctx.reader.resolve(parsed.queries, progress=progress)
    if bar is not None:
        bar.empty()
    result = _result(key, parsed, resolution, ctx)
    st.session_state[_RESULT_STATE] = result
    return result


def _result(key: str, parsed: ParsedIds, resolution: Resolution, ctx: AppContext) -> BulkResult:
    # Built from the resolution's rows: no Result objects for a page of 100,000 rows.
    table, found_runs, missing = build_table(resolution)
    counts = resolution.counts
    run_ids, run_urls = resolution.column("run_id"), resolution.column("run_url")
    template = ctx.settings.runs_list_url_template
    runs_list = runs_list_urls(found_runs, template) if template and found_runs else []
    missing_text = "\n".join(missing) + ("\n" if missing else "")
    return BulkResult(
        key=key,
        parsed=parsed,
        resolution=resolution,
        table=table,
        counts=counts,
        missing=missing,
        runs_list=runs_list,
        found_runs=len(set(found_runs)),
        unlinked=any(run and not url for run, url in zip(run_ids, run_urls, strict=True)),
        csv=Memo(lambda: results_csv(resolution).encode("utf-8")),
        missing_txt=Memo(lambda: missing_text.encode("utf-8")),
    )


_SCHEMA = pa.schema(
    [
        ("query", pa.string()),
        ("status", pa.string()),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("run", pa.string()),
        ("run_id", pa.string()),
        ("organization_id", pa.string()),
        ("processed_at", pa.timestamp("ms", tz="UTC")),
        ("inferred", pa.bool_()),
        ("expires_at", pa.timestamp("ms", tz="UTC")),
        ("detail", pa.string()),
    ]
)


def _ms(value: datetime | None) -> int | None:
    return None if value is None else int(value.timestamp() * 1000)


def build_table(results: Resolution | list[Result]) -> tuple[pa.Table, list[str], list[str]]:
    """The results table (one list per column, one Arrow table at the end: filtering and
    showing it later costs no conversion), the found run IDs and the not-found queries."""
    rows = results.rows if isinstance(results, Resolution) else [result_row(r) for r in results]
    columns = list(zip(*rows, strict=True)) if rows else [()] * len(ROW_FIELDS)
    statuses = columns[STATUS]
    found_runs = [
        run
        for state, run in zip(statuses, columns[RUN_ID], strict=True)
        if state is Status.FOUND and run
    ]
    missing = [
        query
        for state, query in zip(statuses, columns[QUERY], strict=True)
        if state is Status.NOT_FOUND
    ]
    values = [
        columns[QUERY],
        [state.value for state in statuses],
        columns[ENTITY_TYPE],
        columns[ENTITY_ID],
        columns[RUN_URL],
        columns[RUN_ID],
        columns[ORGANIZATION_ID],
        [None if v is None else int(v.timestamp() * 1000) for v in columns[PROCESSED_AT]],  # _ms
        columns[PROCESSED_AT_INFERRED],
        [None if v is None else int(v.timestamp() * 1000) for v in columns[EXPIRES_AT]],  # _ms
        columns[DETAIL],
    ]
    table = pa.Table.from_arrays(
        [pa.array(v, type=f.type) for v, f in zip(values, _SCHEMA, strict=True)],
        schema=_SCHEMA,
    )
    return table, found_runs, missing


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
    rows = len(result.resolution.rows)
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

"""The Bulk resolve page's machinery: input → parse → resolve, memoised per input.

A result lives in ``st.session_state`` under the hash of its input (text or
file bytes, chosen column, settings), so a filter change or a download reruns
the page without touching Redis or re-parsing; download files are built on the
first click only (``render.Memo``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from operator import itemgetter
from typing import Any

import numpy as np
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
    RUN_ID,
    RUN_URL,
    STATUS,
    result_row,
    row_micros,
    row_time,
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
    table, found_runs, missing = build_table(resolution)
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


_MS = pa.timestamp("ms", tz="UTC")
_TEXT = pa.string()
_SCHEMA = pa.schema(
    [
        ("query", pa.string()),
        ("status", pa.string()),
        ("entity_type", pa.string()),
        ("entity_id", pa.string()),
        ("run", pa.string()),
        ("run_id", pa.string()),
        ("organization_id", pa.string()),
        ("processed_at", _MS),
        ("inferred", pa.bool_()),
        ("expires_at", _MS),
        ("detail", pa.string()),
    ]
)


def _ms(value: datetime | float | None) -> int | None:
    """A row's time (``row_time``) as Arrow's milliseconds: what the table shows."""
    value = row_time(value)
    return None if value is None else int(value.timestamp() * 1000)


def epoch_ms(times: Sequence[datetime | float | None]) -> pa.Array:
    """``[_ms(t) for t in times]`` as an Arrow timestamp array, vectorised: ``_ms`` is a
    float division and a product of the microseconds (``row_micros``), truncated."""
    micros, exact = row_micros(times)
    millis = np.trunc(micros / 1e6 * 1000).astype(np.int64)
    valid = exact.copy()
    for index in np.flatnonzero(~exact).tolist():
        value = _ms(times[index])
        if value is not None:
            millis[index] = value
            valid[index] = True
    return pa.array(millis, type=_MS, mask=~valid)


def build_table(results: Resolution | list[Result]) -> tuple[pa.Table, pa.Array, list[str]]:
    """The results table (one list per column, one Arrow table at the end: filtering and
    showing it later costs no conversion), the found run IDs (Arrow: most pages only count
    them) and the not-found queries."""
    rows = results.rows if isinstance(results, Resolution) else [result_row(r) for r in results]

    def column(index: int, kind: pa.DataType = _TEXT) -> pa.Array:
        return pa.array(list(map(itemgetter(index), rows)), type=kind)

    queries, statuses, run_ids, run_urls = (column(i) for i in (QUERY, STATUS, RUN_ID, RUN_URL))
    has_run = pc.fill_null(pc.greater(pc.utf8_length(run_ids), 0), False)
    found_runs = pc.filter(run_ids, pc.and_(pc.equal(statuses, Status.FOUND.value), has_run))
    missing = pc.filter(queries, pc.equal(statuses, Status.NOT_FOUND.value)).to_pylist()
    columns = {
        "query": queries,
        "status": statuses,
        "entity_type": column(ENTITY_TYPE),
        "entity_id": column(ENTITY_ID),
        "run": run_urls,
        "run_id": run_ids,
        "organization_id": column(ORGANIZATION_ID),
        "processed_at": epoch_ms(list(map(itemgetter(PROCESSED_AT), rows))),
        "inferred": column(PROCESSED_AT_INFERRED, pa.bool_()),
        "expires_at": epoch_ms(list(map(itemgetter(EXPIRES_AT), rows))),
        "detail": column(DETAIL),
    }
    has_url = pc.fill_null(pc.greater(pc.utf8_length(run_urls), 0), False)
    if not pc.any(pc.and_(has_run, pc.invert(has_url))).as_py():
        # Every run ID is in its link: the "no link" column is never shown, so not sent
        # (a tenth of the table's bytes, serialised and hashed on every page run).
        del columns["run_id"]
    schema = pa.schema([_SCHEMA.field(name) for name in columns])
    return pa.Table.from_arrays(list(columns.values()), schema=schema), found_runs, missing


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

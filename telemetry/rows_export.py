"""Every record of a window as CSV, newest first (contract §9): ``summary --rows`` and the
Summary page's Rows CSV, the same bytes.

Streamed: the scan hands each record to a sink that formats its CSV line at once;
lines are sorted in chunks of ``CHUNK_ROWS`` and, when there is more than one
chunk, spilled to a temporary file and merged back (``heapq.merge``), so a
million rows never sit in memory together — only one chunk and one block per
chunk during the merge.
"""

from __future__ import annotations

import heapq
import pickle
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import IO, Any

import orjson

from .export import _line as csv_line  # the one CSV line rule, also write_csv's
from .links import run_url_builder
from .models import format_time
from .reader import TelemetryReader, row_time
from .record import Facts
from .summary import in_window

ROWS_CSV_HEADER: tuple[str, ...] = (
    "processed_at",
    "entity_type",
    "entity_id",
    "organization_id",
    "run_id",
    "run_url",
    "expires_at",
    "processed_at_inferred",
    "metadata",
)
CHUNK_ROWS = 50_000  # lines sorted in memory at once
_BLOCK = 2_000  # lines per pickled block of a spilled chunk (read back one block at a time)
_NO_TIME = 10**19  # sorts after every real time: records without one come last
_EPOCH_US = 10**18  # newest first as an ascending sort: this minus the time in µs

# (sort key: inverted µs, entity_type, entity_id; the CSV line)
_Item = tuple[tuple[int, str, str], str]


@dataclass(slots=True)
class RowsExport:
    rows: int = 0
    scanned_keys: int = 0
    complete: bool = False
    capped: bool = False
    error: str = ""
    chunks: int = 0  # sorted chunks spilled to disk (0: sorted in memory)


def _spill(items: list[_Item]) -> IO[bytes]:
    items.sort()
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - closed by _read_back
    for i in range(0, len(items), _BLOCK):
        pickle.dump(items[i : i + _BLOCK], handle, protocol=pickle.HIGHEST_PROTOCOL)
    handle.seek(0)
    return handle


def _read_back(handle: IO[bytes]) -> Iterator[_Item]:
    """A spilled chunk's items in order, one block in memory at a time (our own file)."""
    with handle:
        while True:
            try:
                block = pickle.load(handle)  # noqa: S301 - written by _spill in this process
            except EOFError:
                return
            yield from block


def export_rows(
    reader: TelemetryReader,
    out: IO[bytes],
    *,
    since: timedelta | None = None,
    types: Iterable[str] | None = None,
    organizations: Iterable[str] | None = None,
    max_keys: int | None = None,
    chunk_rows: int = CHUNK_ROWS,
    org_names: Mapping[str, str] | None = None,
) -> RowsExport:
    """Write the window's records (after ``types`` and ``organizations``) to ``out`` as
    contract §9's CSV, newest first (then by type and ID); with ``org_names`` an
    ``organization_name`` column follows ``organization_id``.

    The window rule is the summary's (``in_window``); records without a time come
    last, and only in the window "all". Raises ``StoreUnavailableError`` only when
    Redis fails before the first batch; a later failure is the result's ``error``.
    """
    now = reader.clock()
    start = None if since is None else now - since.total_seconds()
    orgs = set(organizations) if organizations else None
    run_url = run_url_builder(reader.settings.run_url_template)
    result = RowsExport()
    pending: list[_Item] = []
    spilled: list[IO[bytes]] = []

    def sink(entity_type: str, entity_id: str, facts: Facts) -> None:
        processed = facts.processed_at
        ts = processed if processed is None or type(processed) is float else processed.timestamp()
        if not in_window(ts, start):
            return
        org = facts.organization_id or ""
        if orgs is not None and org not in orgs:
            return
        meta = facts.metadata
        cells: list[Any] = [
            format_time(row_time(processed)),
            entity_type,
            entity_id,
            org,
            facts.run_id,
            run_url(facts.run_id) or "",
            format_time(row_time(facts.expires_at)),
            "true" if facts.processed_at_inferred else "false",
            orjson.dumps(meta).decode() if meta else "",
        ]
        if org_names is not None:
            cells.insert(4, org_names.get(org, ""))
        order = _NO_TIME if ts is None else _EPOCH_US - round(ts * 1_000_000)
        pending.append(((order, entity_type, entity_id), csv_line(cells)))
        if len(pending) >= chunk_rows:
            spilled.append(_spill(pending))
            pending.clear()

    for batch in reader.scan(
        types=list(types) if types else None, max_keys=max_keys, now=now, on_record=sink
    ):
        result.scanned_keys = batch.scanned
        if batch.error:
            result.error = batch.error
        result.capped = result.capped or batch.capped
        result.complete = batch.done and not batch.error
    header = list(ROWS_CSV_HEADER)
    if org_names is not None:
        header.insert(4, "organization_name")
    out.write(csv_line(header).encode())
    pending.sort()
    if spilled:
        result.chunks = len(spilled) + (1 if pending else 0)
        merged: Iterable[_Item] = heapq.merge(*map(_read_back, spilled), pending)
    else:
        merged = pending
    buffer: list[str] = []
    for _, line in merged:
        buffer.append(line)
        result.rows += 1
        if len(buffer) >= _BLOCK:
            out.write("".join(buffer).encode())
            buffer.clear()
    out.write("".join(buffer).encode())
    return result

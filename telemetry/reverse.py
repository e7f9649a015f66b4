"""Run IDs looked up the other way round: which entities' records point to a run (contract §7).

People arrive from a failed run in the trigger.dev dashboard as often as from a
payment: a pasted ``run_…`` ID, or a dashboard run URL, asks for the entities
whose record names that run. Records are keyed by entity, never by run, so the
only way to answer is a ``SCAN`` of the namespace: every run ID of one request
shares one scan, bounded by ``SCAN_MAX_KEYS`` like the summary's.

The scan's honesty rules: a run no record points to is ``not_found`` only when
the whole namespace was read; a scan stopped by the cap or by Redis failing
says so, and its misses are ``error`` rows (not searched fully), never "missing".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from .record import Facts

# A run ID as pasted: opaque after ``run_`` (contract §1), so any printable ASCII but the
# separators the tokeniser already split on, and never a ':' (that is a ``type:ID``).
_RUN_ID_RE = re.compile(r"run_[!-9;-~]+\Z")
# A dashboard run URL, whatever its host (self-hosted installs differ) and path before
# ``/runs/``: the run is the last path segment, a query string or fragment may follow.
_RUN_URL_RE = re.compile(
    r"https?://[^/?#\s]+(?:/[^?#\s]*)?/runs/(run_[A-Za-z0-9]+)/?(?:[?#]\S*)?\Z", re.IGNORECASE
)

ScanProgress = Callable[[int], None]  # keys scanned so far


class Scanner(Protocol):
    """What the reverse lookup needs of ``TelemetryReader``: its settings and ``scan``.

    A protocol rather than an import: the reader calls this module, not the other way.
    """

    settings: Any

    def scan(self, *, max_keys: int | None, now: float, on_record: Any) -> Iterable[Any]: ...


Hit = tuple[str, str, Facts]  # (entity type, entity ID, facts) of a record naming the run


def run_query_id(token: str) -> str | None:
    """The run ID a pasted token asks about (``run_…`` or a run URL), else None.

    The caller checks first that the token is no entity ID of the registry (a
    registry may one day give ``run_`` to an entity type).
    """
    if token[:4] == "run_":
        return token if _RUN_ID_RE.match(token) else None
    if token[:4].lower() == "http":
        found = _RUN_URL_RE.match(token)
        return found[1] if found else None
    return None


@dataclass(slots=True)
class RunScan:
    """What one scan of the namespace found for a set of run IDs."""

    hits: dict[str, list[Hit]] = field(default_factory=dict)  # run ID -> records, sorted
    scanned: int = 0  # keys scanned
    done: bool = False  # the whole namespace was read
    capped: bool = False  # stopped at max_keys
    max_keys: int = 0
    error: str = ""  # Redis failed part-way

    def incomplete_note(self) -> str:
        """Why a miss is not certain ('' when the scan read the whole namespace)."""
        if self.done:
            return ""
        if self.error:
            return f"the scan stopped after {self.scanned:,} keys: Redis failed: {self.error}"
        return (
            f"the scan stopped at {self.max_keys:,} keys (SCAN_MAX_KEYS) before the end of "
            "the namespace"
        )

    def miss_detail(self, run_id: str, namespace: str) -> str:
        """The detail of a run no scanned record points to."""
        if self.done:
            return (
                f"no record in the namespace points to {run_id}: scanned all "
                f"{self.scanned:,} keys under {namespace}:* (records expire after their TTL)"
            )
        return (
            f"not searched fully: {self.incomplete_note()}; no record among the "
            f"{self.scanned:,} keys read points to {run_id}"
        )


def scan_for_runs(
    reader: Scanner,
    run_ids: Collection[str],
    *,
    now: float,
    max_keys: int | None = None,
    progress: ScanProgress | None = None,
) -> RunScan:
    """One scan of the namespace for every record whose ``runId`` is one of ``run_ids``.

    Raises ``StoreUnavailableError`` when Redis fails on the first round trip;
    a later failure ends the scan with ``error`` set and what was read kept.
    """
    wanted = frozenset(run_ids)
    out = RunScan(hits={run_id: [] for run_id in wanted})
    out.max_keys = max_keys or reader.settings.scan_max_keys
    hits = out.hits

    def sink(entity_type: str, entity_id: str, facts: Facts) -> None:
        # Called once per record of the namespace: a set probe, nothing more.
        if facts.run_id in wanted:
            hits[facts.run_id].append((entity_type, entity_id, facts))

    for batch in reader.scan(max_keys=out.max_keys, now=now, on_record=sink):
        out.scanned = batch.scanned
        if batch.error:
            out.error = batch.error
        out.done = batch.done
        out.capped = batch.capped
        if progress is not None:
            progress(out.scanned)
    for found in hits.values():
        found.sort(key=lambda hit: (hit[0], hit[1]))
    return out

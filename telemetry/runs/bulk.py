"""The state of many runs at once, within the real rate limit (issue #14, TRIGGER_API.md §4–§5).

The API has no batch retrieve and no filter by run ID, and one retrieve per
run costs a request each: 100,000 runs would take over an hour at 1,500
requests a minute. So ``run_states``:

1. **Lists** the runs created in the span of the records' times,
   ``[earliest − margin, latest + margin]`` (a run is created before its
   record is written; the margin, 1 h by default, also absorbs clock skew
   and queueing), 100 runs a request, and joins on ``id``.
2. **Retrieves** each wanted run the listing did not contain (created before
   the span, a record without a time, or a run of another environment: that
   answers 404 and becomes ``NOT_IN_ENVIRONMENT``), and each listed run that
   finished without success, because list items carry no ``error``.

Cost, in requests (every one paced by the rate-limit headers)::

    ceil(runs created in the span / 100)      list pages
    + wanted runs the listing did not contain retrieves
    + listed runs in FAILED_STATUSES          retrieves (their error message)

**When listing would cost more than retrieving** (a busy span, few wanted
runs) the listing stops early: after each page the pages still to come are
estimated from how far back in the span the page reached (the list is newest
first), and listing goes on only while that estimate is smaller than the
number of still-missing runs that could be in the unlisted part; the rest are
retrieved. Listing is also skipped for a single timed run, and stops as soon
as every wanted run is found. So the cost stays near
``min(N, runs in span / 100) + missing + failed`` and never needs a page per
run; an exact count for a given span is in the tests.

Nothing is guessed: a run whose state could not be learned is
``Unavailable(reason)``. A failure part-way (API down, 401, 429 storm) keeps
what was learned and marks every other run unavailable with the reason;
``run_states`` never raises for that. A malformed answer for one retrieved
run marks only that run.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

from ..errors import RunsDataError, RunsError
from .client import MAX_PAGE_SIZE, TriggerClient
from .model import FAILED_STATUSES, RunState

DEFAULT_MARGIN = timedelta(hours=1)
#: Retrieves in flight at once for the CLI and the pages: enough to reach the
#: rate limit (one request per 40 ms) at a 100–150 ms round trip.
RETRIEVE_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Unavailable:
    """The run's state could not be learned; ``reason`` says why (fit to show)."""

    reason: str
    status: ClassVar[str] = "unavailable"


@dataclass(frozen=True, slots=True)
class NotInEnvironment:
    """The API answered 404: the run is not in the key's environment (or does not exist)."""

    status: ClassVar[str] = "not_in_environment"


NOT_IN_ENVIRONMENT = NotInEnvironment()

RunOutcome = RunState | NotInEnvironment | Unavailable
#: ``on_progress(learned, total)``: runs whose state is known so far, of the wanted runs.
Progress = Callable[[int, int], None]


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def run_states(
    client: TriggerClient,
    runs: Mapping[str, datetime | None],
    *,
    margin: timedelta = DEFAULT_MARGIN,
    error_details: bool = True,
    on_progress: Progress | None = None,
    concurrency: int = 1,
) -> dict[str, RunOutcome]:
    """The state of every run in ``runs`` (run ID → the time its record says it was processed).

    ``error_details=False`` skips the retrieves that fetch failed runs' error
    messages (their ``error_*`` fields stay None). ``on_progress`` is called
    after every list page and every retrieve (a page shows a progress bar),
    always from the calling thread. ``concurrency`` retrieves may be in flight
    at once (the listing is sequential: its cursors are): the rate limit
    allows one request every 40 ms, so one at a time would leave a bulk bound
    by the API's round trip instead. The client's pacing is shared by them, so
    the same budget holds; the request count is the same.
    """
    results: dict[str, RunOutcome] = {}
    timed = {run_id: _utc(when) for run_id, when in runs.items() if when is not None}
    total = len(runs)

    def progress() -> None:
        if on_progress is not None:
            on_progress(min(len(results), total), total)

    try:
        if len(timed) > 1:
            _list_span(client, timed, margin, results, progress)
        to_retrieve = [run_id for run_id in runs if run_id not in results]
        if error_details:
            to_retrieve += [
                run_id
                for run_id, state in results.items()
                if isinstance(state, RunState)
                and state.status in FAILED_STATUSES
                and state.error_message is None
            ]
        for run_id, answer in _retrieve_all(client, to_retrieve, concurrency):
            if answer is not None:  # a state, or Unavailable for a malformed answer
                results[run_id] = answer
            elif run_id not in results:  # a listed run keeps its listed state
                results[run_id] = NOT_IN_ENVIRONMENT
            progress()
    except RunsError as exc:
        reason = str(exc)
        for run_id in runs:
            results.setdefault(run_id, Unavailable(reason))
    return {run_id: results[run_id] for run_id in runs}


def _retrieve_one(client: TriggerClient, run_id: str) -> RunState | Unavailable | None:
    """One retrieve; a malformed answer marks only this run."""
    try:
        return client.retrieve(run_id)
    except RunsDataError as exc:
        return Unavailable(str(exc))


def _retrieve_all(
    client: TriggerClient, run_ids: Iterable[str], concurrency: int
) -> Iterable[tuple[str, RunState | Unavailable | None]]:
    """``(run_id, answer)`` for each run, ``concurrency`` at a time, yielded in this thread.

    The first ``RunsError`` (API down, key refused, rate budget gone) stops the
    rest and is raised here once the runs in flight have finished; what was
    answered before it is yielded first.
    """
    if concurrency <= 1:
        for run_id in run_ids:
            yield run_id, _retrieve_one(client, run_id)
        return
    stop = threading.Event()

    def task(run_id: str) -> RunState | Unavailable | None:
        if stop.is_set():
            raise _Skipped
        try:
            return _retrieve_one(client, run_id)
        except RunsError:
            stop.set()
            raise

    failure: RunsError | None = None
    pending: dict[Future[RunState | Unavailable | None], str] = {}
    queue = iter(run_ids)
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="trigger-retrieve") as pool:
        while True:
            # A bounded window of submissions: 100,000 futures at once would cost memory.
            while not stop.is_set() and len(pending) < 4 * concurrency:
                run_id = next(queue, None)
                if run_id is None:
                    break
                pending[pool.submit(task, run_id)] = run_id
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                run_id = pending.pop(future)
                try:
                    answer = future.result()
                except _Skipped:
                    continue
                except RunsError as exc:
                    failure = failure or exc
                    continue
                yield run_id, answer
    if failure is not None:
        raise failure


class _Skipped(Exception):
    """A retrieve not sent because another one failed for good."""


def _list_span(
    client: TriggerClient,
    timed: dict[str, datetime],
    margin: timedelta,
    results: dict[str, RunOutcome],
    progress: Callable[[], None],
) -> None:
    """List the span's wanted runs into ``results``; stop when retrieving is cheaper.

    A malformed list page ends the listing; the runs it did not reach are
    retrieved one by one instead.
    """
    start = min(timed.values()) - margin
    end = max(timed.values()) + margin
    span = (end - start).total_seconds()
    missing = dict(timed)
    pages = 0
    on_page = 0
    oldest: datetime | None = None
    try:
        for state in client.list_runs(created_from=start, created_to=end, page_size=MAX_PAGE_SIZE):
            on_page += 1
            if state.run_id in missing:
                del missing[state.run_id]
                results[state.run_id] = state
            if state.created_at is not None and (oldest is None or state.created_at < oldest):
                oldest = state.created_at
            if on_page < MAX_PAGE_SIZE:
                continue
            # A full page: the generator asks for the next one only if we go on.
            pages += 1
            on_page = 0
            progress()
            if not missing:
                return
            if not _worth_another_page(pages, oldest, start, end, span, missing, margin):
                return
    except RunsDataError:
        return


def _worth_another_page(
    pages: int,
    oldest: datetime | None,
    start: datetime,
    end: datetime,
    span: float,
    missing: dict[str, datetime],
    margin: timedelta,
) -> bool:
    """Whether the pages still to list are estimated fewer than the runs they could find."""
    if oldest is None or span <= 0:
        return pages < len(missing)
    covered = (end - max(oldest, start)).total_seconds() / span
    if covered <= 0:
        return pages < len(missing)
    still_to_list = math.ceil(pages / covered - pages) if covered < 1 else 0
    # A missing run created in the unlisted part was processed after that part began.
    # Counting stops once it passes still_to_list: a full count on every page made
    # 100,000 runs cost 50 million comparisons (quadratic).
    reach = oldest + margin
    findable = 0
    for when in missing.values():
        if when <= reach:
            findable += 1
            if findable > still_to_list:
                return True
    return False

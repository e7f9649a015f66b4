"""The trigger.dev stand-in for the ``resolve-runs`` cases, served from a process of its own.

    python -m benchmarks.runs_standin RECORDS.json

``RECORDS.json`` is ``[[run_id, processed_at_epoch], ...]`` (the found rows
of the pasted IDs). One run per record is served, created 2–90 s before it
was processed, with the mix of a healthy production environment (``MIX``: 4.5 %
failed or canceled, 1 % still executing) and 1 % of the runs in another
environment (404), as in ``tests/runs/test_scale.py``. The budget is
unlimited: the cases measure our client, and compute the time the real rate
limit adds from the request count.

Prints one JSON line — ``url``, ``key``, and the README's formula counted from
the runs served: ``pages`` (⌈runs created in the span / 100⌉), ``missed``,
``failed`` — then serves until stdin closes. A process of its own, so the
stand-in's CPU is not counted as ours, as the real API's is not.
"""

from __future__ import annotations

import json
import math
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

from telemetry.runs.bulk import DEFAULT_MARGIN
from telemetry.runs.model import FAILED_STATUSES
from telemetry.runs.standin import TriggerStandIn, make_run

KEY = "tr_prod_benchStandin01"
# Out of 1,000 runs.
MIX = (
    (945, "COMPLETED"),
    (970, "FAILED"),
    (975, "CRASHED"),
    (978, "SYSTEM_FAILURE"),
    (982, "TIMED_OUT"),
    (990, "CANCELED"),
    (1000, "EXECUTING"),
)
ELSEWHERE_PER_MILLE = 10
ERROR = {"name": "StripeCardError", "message": "Your card was declined.", "stackTrace": "at x"}


def fleet(records: list[list[Any]], seed: int = 7) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The runs behind ``records``, and the formula's terms for a bulk of all of them."""
    rng = random.Random(seed)
    runs: list[dict[str, Any]] = []
    missed = failed = 0
    times = [float(when) for _, when in records]
    start = datetime.fromtimestamp(min(times), UTC) - DEFAULT_MARGIN
    end = datetime.fromtimestamp(max(times), UTC) + DEFAULT_MARGIN
    in_span = 0
    for run_id, when in records:
        if rng.randrange(1000) < ELSEWHERE_PER_MILLE:
            missed += 1
            continue
        pick = rng.randrange(1000)
        status = next(name for limit, name in MIX if pick < limit)
        created = datetime.fromtimestamp(float(when), UTC) - timedelta(seconds=rng.uniform(2, 90))
        failed += status in FAILED_STATUSES
        in_span += start <= created <= end
        missed += not start <= created <= end
        runs.append(
            make_run(
                run_id,
                status=status,
                created_at=created,
                error=ERROR if status in FAILED_STATUSES - {"CANCELED"} else None,
            )
        )
    return runs, {"pages": math.ceil(in_span / 100), "missed": missed, "failed": failed}


def main(argv: list[str]) -> int:
    with open(argv[0], encoding="utf-8") as handle:
        records = json.load(handle)
    runs, terms = fleet(records)
    with TriggerStandIn(runs, key=KEY, burst=10**12, refill=0) as api:
        print(json.dumps({"url": api.url, "key": api.key, **terms}), flush=True)
        sys.stdin.read()  # serve until the parent closes our stdin
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Run state from the trigger.dev management API (issue #14, contract §6).

Never imports streamlit. ``TriggerClient`` reads one run or a listing;
``run_states`` learns many runs within the rate limit; ``make_http_client``
builds the one ``httpx.Client`` a process should keep.
"""

from .bulk import NOT_IN_ENVIRONMENT, NotInEnvironment, RunOutcome, Unavailable, run_states
from .client import API_VERSION, TriggerClient, make_http_client
from .columns import RUN_COLUMNS, resolution_runs, run_cells, run_fields, runs_csv, runs_json
from .model import FAILED_STATUSES, KNOWN_STATUSES, SUCCESS, RunState, is_known, parse_run

__all__ = [
    "API_VERSION",
    "FAILED_STATUSES",
    "KNOWN_STATUSES",
    "NOT_IN_ENVIRONMENT",
    "RUN_COLUMNS",
    "SUCCESS",
    "NotInEnvironment",
    "RunOutcome",
    "RunState",
    "TriggerClient",
    "Unavailable",
    "is_known",
    "make_http_client",
    "parse_run",
    "resolution_runs",
    "run_cells",
    "run_fields",
    "run_states",
    "runs_csv",
    "runs_json",
]

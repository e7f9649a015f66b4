"""Run Lookup's core: which trigger.dev run last touched a business entity.

Never imports streamlit; the app and the CLI are thin layers over this.
"""

from .config import Settings, redact_url
from .errors import (
    ConfigError,
    InputFormatError,
    InputTooLargeError,
    RunsAuthError,
    RunsDataError,
    RunsError,
    RunsUnavailableError,
    StoreUnavailableError,
    TelemetryError,
)
from .export import csv_safe, results_csv, results_json
from .ids import ParsedIds, Query, decode_text, parse_ids
from .keys import make_key, parse_key
from .links import is_linkable, run_url, runs_list_urls
from .models import CSV_HEADER, Result, Status, TelemetryRecord, format_time
from .reader import InvalidRecord, Resolution, Row, ScanBatch, TelemetryReader
from .record import Facts, interpret
from .registry import DEFAULT_ENTITY_TYPES, EntityRegistry
from .runs import (
    NOT_IN_ENVIRONMENT,
    RunState,
    TriggerClient,
    Unavailable,
    make_http_client,
    run_states,
)
from .store import ClusterStore, SingleStore, Store, connect, demo_client
from .summary import WINDOWS, Summary, parse_since, summarize
from .writer import generate_records, seed_records, store_telemetry

__all__ = [
    "CSV_HEADER",
    "DEFAULT_ENTITY_TYPES",
    "NOT_IN_ENVIRONMENT",
    "WINDOWS",
    "ClusterStore",
    "ConfigError",
    "EntityRegistry",
    "Facts",
    "InputFormatError",
    "InputTooLargeError",
    "InvalidRecord",
    "ParsedIds",
    "Query",
    "Resolution",
    "Result",
    "Row",
    "RunState",
    "RunsAuthError",
    "RunsDataError",
    "RunsError",
    "RunsUnavailableError",
    "ScanBatch",
    "Settings",
    "SingleStore",
    "Status",
    "Store",
    "StoreUnavailableError",
    "Summary",
    "TelemetryError",
    "TelemetryReader",
    "TelemetryRecord",
    "TriggerClient",
    "Unavailable",
    "connect",
    "csv_safe",
    "decode_text",
    "demo_client",
    "format_time",
    "generate_records",
    "interpret",
    "is_linkable",
    "make_http_client",
    "make_key",
    "parse_ids",
    "parse_key",
    "parse_since",
    "redact_url",
    "results_csv",
    "results_json",
    "run_states",
    "run_url",
    "runs_list_urls",
    "seed_records",
    "store_telemetry",
    "summarize",
]

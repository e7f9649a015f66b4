"""``python -m telemetry``: the library for terminals and scripts.

Expected failures (bad arguments, unreachable Redis, bad input) print one
line on stderr and exit 2; nothing prints a traceback for them.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import timedelta

from .columns_kept import kept_rows, kept_table_columns, with_kept_csv, with_kept_json
from .config import Settings
from .errors import TelemetryError
from .export import escape_controls, json_bytes, results_csv, results_json, results_table
from .ids import parse_ids
from .org_names import load_org_names
from .reader import TelemetryReader
from .rows_export import ROWS_CSV_HEADER, RowsExport, export_rows
from .runs import TriggerClient, make_http_client
from .runs.columns import RUN_COLUMNS, resolution_runs, run_cells, runs_csv, runs_json
from .runs.outcomes import WindowRecords, run_outcomes
from .store import connect, store_errors
from .summary import Summary, parse_since, summarize
from .writer import seed_records

EXIT_USAGE = 2
UNAVAILABLE_LINES = 3  # distinct reasons printed by `summary --runs`
# The run columns of `resolve --runs --format table` (a terminal has room for three).
TABLE_RUN_COLUMNS = ("run_status", "task_identifier", "run_error")
_TABLE_RUN_INDEXES = tuple(RUN_COLUMNS.index(name) for name in TABLE_RUN_COLUMNS)


def _settings(args: argparse.Namespace) -> Settings:
    return Settings.load(redis_url=getattr(args, "redis_url", None))


def _reader(args: argparse.Namespace, settings: Settings) -> TelemetryReader:
    if settings.demo and not getattr(args, "demo", False):
        raise TelemetryError(
            "REDIS_URL is not set: pass --redis-url redis://HOST:PORT or set REDIS_URL "
            "(or --demo for generated demo data)."
        )
    return TelemetryReader(connect(settings), settings)


def _runs_client(args: argparse.Namespace, settings: Settings) -> TriggerClient | None:
    """The trigger.dev client for ``--runs`` (None without it); checked before any work."""
    if not args.runs:
        return None
    if settings.trigger_secret_key is None:
        raise TelemetryError(
            "--runs needs TRIGGER_SECRET_KEY: set it to a secret key (tr_prod_…) of the "
            "environment the runs are in."
        )
    return TriggerClient.from_settings(settings, make_http_client(settings))


def cmd_resolve(args: argparse.Namespace, settings: Settings) -> int:
    runs_client = _runs_client(args, settings)
    if args.file and args.file != "-":
        try:
            with open(args.file, "rb") as handle:
                data = handle.read()
        except OSError as exc:
            raise TelemetryError(f"Cannot read {args.file}: {exc.strerror}.") from None
    else:
        data = sys.stdin.buffer.read()
    parsed = parse_ids(
        data,
        settings.registry,
        namespace=settings.telemetry_namespace,
        column=args.column,
        max_ids=settings.max_ids,
    )
    if args.keep_columns and not parsed.columns:
        what = escape_controls(args.file) if args.file and args.file != "-" else "the input"
        raise TelemetryError(
            "--keep-columns needs a table (CSV or TSV with a header row, IDs in one column); "
            f"{what} is a list of IDs with no columns to keep: drop --keep-columns."
        )
    reader = _reader(args, settings)
    resolution = reader.resolve(parsed.queries)
    kept = kept_rows(parsed, resolution) if args.keep_columns else None
    kept_names, kept_cells = kept_table_columns(kept, len(resolution))
    if runs_client is not None:
        # The Redis rows are complete before the API is asked: it can only add to them.
        outcomes = resolution_runs(runs_client, resolution)
        if args.format == "json":
            sys.stdout.buffer.write(with_kept_json(runs_json(resolution, outcomes), kept) + b"\n")
        elif args.format == "table":
            cells = [
                (*(run_cells(outcome)[i] for i in _TABLE_RUN_INDEXES), *extra)
                for outcome, extra in zip(outcomes, kept_cells, strict=True)
            ]
            sys.stdout.write(
                results_table(
                    resolution.results,
                    extra_columns=(*TABLE_RUN_COLUMNS, *kept_names),
                    extra_cells=cells,
                )
            )
        else:
            sys.stdout.write(with_kept_csv(runs_csv(resolution, outcomes), kept))
    elif args.format == "json":
        sys.stdout.buffer.write(with_kept_json(results_json(resolution.results), kept) + b"\n")
    elif args.format == "table":
        sys.stdout.write(
            results_table(resolution.results, extra_columns=kept_names, extra_cells=kept_cells)
        )
    else:
        sys.stdout.write(with_kept_csv(results_csv(resolution), kept))
    sys.stdout.flush()
    counts = resolution.counts
    if sys.stderr.isatty():
        print(
            f"{parsed.unique:,} unique IDs ({parsed.duplicates:,} duplicates dropped): "
            + ", ".join(f"{n:,} {status}" for status, n in counts.items() if n),
            file=sys.stderr,
        )
    if not resolution.complete:
        print(f"error: {resolution.error}", file=sys.stderr)
        return EXIT_USAGE
    return 0


def cmd_summary(args: argparse.Namespace, settings: Settings) -> int:
    since = parse_since(args.since)
    if args.max_keys is not None and args.max_keys < 1:
        # 0 would silently mean "no cap" and a negative cap would slice keys from the end.
        raise TelemetryError(f"--max-keys must be 1 or more (got {args.max_keys}).")
    if args.rows and (args.runs or args.format != "csv"):
        raise TelemetryError(
            "--rows prints CSV rows: drop --format json and --runs (or drop --rows)."
        )
    org_names = load_org_names(settings.org_names_path)
    if args.rows:
        return _summary_rows(args, settings, since, org_names)
    runs_client = _runs_client(args, settings)
    reader = _reader(args, settings)
    window = WindowRecords() if runs_client is not None else None
    summary = summarize(
        reader,
        since=since,
        types=args.type or None,
        organizations=args.org or None,
        max_keys=args.max_keys,
        on_window_record=None if window is None else window.add,
    )
    if runs_client is not None and window is not None:
        # The scan is complete (or as far as Redis let it go) before the API is asked.
        outcomes = run_outcomes(
            runs_client, window.rows, run_url_template=settings.run_url_template
        )
        if args.format == "json":
            body = {**summary.to_json(), "run_statuses": outcomes.run_statuses()}
            sys.stdout.buffer.write(json_bytes(body) + b"\n")
        else:
            sys.stdout.write(outcomes.statuses_csv())
        sys.stdout.flush()
        _warn_unavailable(outcomes.unavailable)
    elif args.format == "json":
        sys.stdout.buffer.write(json_bytes(summary.to_json()) + b"\n")
    else:
        sys.stdout.write(summary.groups_csv(org_names))
    sys.stdout.flush()
    return _scan_end(summary, "the summary is a sample")


def _summary_rows(
    args: argparse.Namespace,
    settings: Settings,
    since: timedelta | None,
    org_names: Mapping[str, str] | None,
) -> int:
    """``summary --rows``: every record of the window, newest first (contract §9)."""
    reader = _reader(args, settings)
    result = export_rows(
        reader,
        sys.stdout.buffer,
        since=since,
        types=args.type or None,
        organizations=args.org or None,
        max_keys=args.max_keys,
        org_names=org_names,
    )
    sys.stdout.flush()
    return _scan_end(result, "the rows are a sample")


def _scan_end(scan: Summary | RowsExport, sample: str) -> int:
    """A scanning command's exit code, after saying on stderr why its output is partial:
    Redis cut the scan (an error), or ``--max-keys`` did (``sample`` says what it means)."""
    if scan.error:
        print(f"error: scan incomplete: {scan.error}", file=sys.stderr)
        return EXIT_USAGE
    if scan.capped:
        print(
            f"warning: stopped at {scan.scanned_keys:,} keys (--max-keys): {sample}",
            file=sys.stderr,
        )
    return 0


def _warn_unavailable(reasons: Counter[str]) -> None:
    """The commonest reasons run states are missing, one line each (a reason per run, e.g.
    malformed answers naming the run, would otherwise flood the terminal)."""
    common = reasons.most_common()
    for reason, records in common[:UNAVAILABLE_LINES]:
        print(
            f"warning: run state unavailable for {records:,} records: {escape_controls(reason)}",
            file=sys.stderr,
        )
    rest = common[UNAVAILABLE_LINES:]
    if rest:
        print(
            f"warning: run state unavailable for {sum(n for _, n in rest):,} more records "
            f"({len(rest):,} other reasons)",
            file=sys.stderr,
        )


def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    if settings.demo:
        raise TelemetryError("seed needs a Redis to write to: pass --redis-url or set REDIS_URL.")
    if args.records < 0:
        raise TelemetryError(f"--records must be 0 or more (got {args.records}).")
    client = connect(settings)
    with store_errors(settings.redacted_redis_url):
        written = seed_records(client, settings, records=args.records, seed=args.seed)
    print(
        f"wrote {written:,} records to {settings.redacted_redis_url} "
        f"(namespace {settings.telemetry_namespace}, TTL {settings.telemetry_ttl_seconds:,} s)",
        file=sys.stderr,
    )
    return 0


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--redis-url",
        metavar="URL",
        help="redis:// or rediss:// URL; overrides REDIS_URL",
    )
    parser = _Parser(
        prog="python -m telemetry",
        description="Find which trigger.dev run processed an entity, from the telemetry in Redis.",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    resolve = sub.add_parser(
        "resolve",
        parents=[common],
        help="resolve IDs (any paste shape) to runs; CSV on stdout",
        description="Resolve entity IDs from FILE or stdin (one per line, CSV, JSON array, "
        "Slack paste...). One output row per result.",
    )
    resolve.add_argument(
        "file", nargs="?", metavar="FILE", help="IDs to resolve; - or none = stdin"
    )
    resolve.add_argument("--format", choices=("csv", "json", "table"), default="csv")
    resolve.add_argument(
        "--column", help="for a CSV file: the column holding the IDs (default: guessed)"
    )
    resolve.add_argument("--demo", action="store_true", help="use generated demo data, not Redis")
    resolve.add_argument(
        "--runs",
        action="store_true",
        help="add each found run's state from trigger.dev (needs TRIGGER_SECRET_KEY): "
        + ", ".join(RUN_COLUMNS),
    )
    resolve.add_argument(
        "--keep-columns",
        action="store_true",
        help="for a CSV/TSV table: append its other columns after ours (after the --runs "
        "ones), each row with the cells of the line its ID came from; a name equal to one of "
        "ours gets input_ prepended. A plain list of IDs is an error.",
    )
    resolve.set_defaults(handler=cmd_resolve)

    summary = sub.add_parser(
        "summary",
        parents=[common],
        help="scan the namespace and count records by entity type and organization",
        description="Scan the namespace and aggregate records by entity type and organization.",
    )
    summary.add_argument("--since", default="24h", help="window: 90m, 24h, 7d, all (default 24h)")
    summary.add_argument("--type", action="append", metavar="T", help="entity type (repeatable)")
    summary.add_argument("--org", action="append", metavar="ORG", help="organization (repeatable)")
    summary.add_argument("--format", choices=("csv", "json"), default="csv")
    summary.add_argument("--max-keys", type=int, metavar="N", help="stop after N keys (a sample)")
    summary.add_argument("--demo", action="store_true", help="use generated demo data, not Redis")
    summary.add_argument(
        "--runs",
        action="store_true",
        help="also count the window's records by run status from trigger.dev (needs "
        "TRIGGER_SECRET_KEY): json adds run_statuses; csv prints entity_type,run_status,records "
        "instead of the groups",
    )
    summary.add_argument(
        "--rows",
        action="store_true",
        help="print every record of the window (after --type/--org), newest first, as CSV: "
        + ",".join(ROWS_CSV_HEADER),
    )
    summary.set_defaults(handler=cmd_summary)

    seed = sub.add_parser(
        "seed",
        parents=[common],
        help="write N synthetic records (the only command that writes)",
        description="Write N realistic synthetic records (both shapes, all types, many orgs, "
        "ages spread over the TTL), with the TTL set.",
    )
    seed.add_argument("--records", type=int, required=True, metavar="N")
    seed.add_argument("--seed", type=int, default=0, metavar="S", help="random seed (default 0)")
    seed.set_defaults(handler=cmd_seed)

    from .users import register_commands

    register_commands(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = _settings(args)
        return args.handler(args, settings)
    except TelemetryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `... | head` closed the pipe: not an error for a CLI.
        return 0

"""``python -m telemetry`` (contract §5): outputs, exit codes and one-line errors.

Most tests call ``telemetry.cli.main([...])`` with capsys, a fakeredis behind
``connect`` and clocks frozen at ``NOW``; the ``subprocess`` tests run the real
module to prove there is no traceback and exactly one line on stderr.
"""

from __future__ import annotations

import functools
import io
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import fakeredis
import orjson
import pytest

import cli_process
import telemetry.cli as cli
from clocks import NOW, FrozenClock
from redis_server import free_port
from telemetry.config import Settings
from telemetry.errors import StoreUnavailableError
from telemetry.reader import TelemetryReader
from telemetry.store import SingleStore

TTL = 1_209_600
HOUR = 3600
PASSWORD = "hunter2-SECRET"
FAKE_URL = f"redis://app:{PASSWORD}@redis.internal:6379/0"
RESOLVE_HEADER = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, server_clock: FrozenClock) -> fakeredis.FakeRedis:
    """A fakeredis (clock frozen at NOW) that the CLI's connect() returns; readers use NOW too."""
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(cli, "connect", lambda settings: client)
    monkeypatch.setattr(
        cli, "TelemetryReader", functools.partial(TelemetryReader, clock=lambda: NOW)
    )
    return client


@pytest.fixture
def data(fake: fakeredis.FakeRedis) -> fakeredis.FakeRedis:
    """A few records: minimal, rich, organization, invalid, a formula-looking org."""
    fake.set("telemetry:payment:pym_1", b'{"runId": "run_min"}', px=(TTL - 2 * HOUR) * 1000)
    fake.set(
        "telemetry:invoice:inv_1",
        orjson.dumps(
            {
                "runId": "run_rich",
                "organizationId": "org_9",
                "timestamp": "2027-01-15T07:30:00.000Z",
                "metadata": {"status": "paid"},
            }
        ),
        px=(TTL - HOUR) * 1000,
    )
    fake.set("telemetry:organization:org_5", b'{"runId": "run_org"}', px=(TTL - 30 * HOUR) * 1000)
    fake.set("telemetry:customer:cust_1", b"{broken", px=HOUR * 1000)
    fake.set(
        "telemetry:subscription:sub_1",
        b'{"runId": "run_sub", "organizationId": "=HYPERLINK(1)", "timestamp": 1799990000}',
        px=TTL * 1000,
    )
    return fake


def group(entity_type: str, org: str | None, records: int, latest: str | None) -> dict[str, Any]:
    """One entry of the summary JSON's ``groups``."""
    return {
        "entity_type": entity_type,
        "organization_id": org,
        "records": records,
        "latest_processed_at": latest,
    }


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def ids_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "ids.txt"
    path.write_text(text)
    return str(path)


# -- resolve -------------------------------------------------------------------

EXPECTED_RESOLVE_CSV = (
    RESOLVE_HEADER + "\r\n"
    "pym_1,found,payment,pym_1,run_min,https://cloud.trigger.dev/runs/run_min,,"
    "2027-01-15T06:00:00Z,2027-01-29T06:00:00Z,time inferred from TTL\r\n"
    "inv_1,found,invoice,inv_1,run_rich,https://cloud.trigger.dev/runs/run_rich,org_9,"
    "2027-01-15T07:30:00Z,2027-01-29T07:00:00Z,\r\n"
    "org_5,found,organization,org_5,run_org,https://cloud.trigger.dev/runs/run_org,org_5,"
    "2027-01-14T02:00:00Z,2027-01-28T02:00:00Z,time inferred from TTL\r\n"
    "cust_1,invalid_record,customer,cust_1,,,,,,"
    "invalid record at telemetry:customer:cust_1: value is not JSON\r\n"
    "sub_1,found,subscription,sub_1,run_sub,https://cloud.trigger.dev/runs/run_sub,"
    "'=HYPERLINK(1),2027-01-15T05:13:20Z,2027-01-29T08:00:00Z,\r\n"
    "pym_404,not_found,payment,pym_404,,,,,,"
    '"no key telemetry:payment:pym_404: never processed, or expired after the 14 d TTL"\r\n'
)


def test_resolve_file_to_csv_exact(
    data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """resolve FILE prints the contract CSV: every status, both time kinds, neutralised cells."""
    path = ids_file(tmp_path, "pym_1\n`inv_1`, org_5; cust_1\tsub_1\npym_404\npym_1\n")
    code, out, err = run(["resolve", path, "--redis-url", FAKE_URL], capsys)
    assert (code, err) == (0, "")
    assert out == EXPECTED_RESOLVE_CSV


@pytest.mark.parametrize("file_arg", [[], ["-"]], ids=["no-file", "dash"])
def test_resolve_reads_stdin(
    data: Any,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    file_arg: list[str],
) -> None:
    """Without FILE (or with -) the IDs come from stdin, here a JSON array."""
    stdin = types.SimpleNamespace(
        buffer=io.BytesIO(b'["pym_1", "inv_1", "org_5", "cust_1", "sub_1", "pym_404"]')
    )
    monkeypatch.setattr(sys, "stdin", stdin)
    code, out, err = run(["resolve", *file_arg, "--redis-url", FAKE_URL], capsys)
    assert (code, out, err) == (0, EXPECTED_RESOLVE_CSV, "")


def test_resolve_uses_redis_url_from_environment(
    data: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """REDIS_URL in the environment is enough (no --redis-url needed)."""
    monkeypatch.setenv("REDIS_URL", FAKE_URL)
    code, out, _ = run(["resolve", ids_file(tmp_path, "inv_1")], capsys)
    assert code == 0
    assert out.splitlines()[1].startswith("inv_1,found,invoice,inv_1,run_rich,")


def test_resolve_json(data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format json prints one object per row with the inferred flag and metadata."""
    path = ids_file(tmp_path, "inv_1 pym_1")
    code, out, err = run(["resolve", path, "--format", "json", "--redis-url", FAKE_URL], capsys)
    assert (code, err) == (0, "")
    assert orjson.loads(out) == [
        {
            "query": "inv_1",
            "status": "found",
            "entity_type": "invoice",
            "entity_id": "inv_1",
            "run_id": "run_rich",
            "run_url": "https://cloud.trigger.dev/runs/run_rich",
            "organization_id": "org_9",
            "processed_at": "2027-01-15T07:30:00Z",
            "expires_at": "2027-01-29T07:00:00Z",
            "detail": "",
            "processed_at_inferred": False,
            "metadata": {"status": "paid"},
        },
        {
            "query": "pym_1",
            "status": "found",
            "entity_type": "payment",
            "entity_id": "pym_1",
            "run_id": "run_min",
            "run_url": "https://cloud.trigger.dev/runs/run_min",
            "organization_id": None,
            "processed_at": "2027-01-15T06:00:00Z",
            "expires_at": "2027-01-29T06:00:00Z",
            "detail": "time inferred from TTL",
            "processed_at_inferred": True,
            "metadata": {},
        },
    ]


def test_resolve_table(data: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--format table prints the fixed-width terminal table (~ marks inferred times)."""
    path = ids_file(tmp_path, "inv_1 pym_1 pym_404")
    code, out, _ = run(["resolve", path, "--format", "table", "--redis-url", FAKE_URL], capsys)
    assert code == 0
    assert out == (
        "query    status     entity_type  run_id    organization_id  processed_at\n"
        "-------  ---------  -----------  --------  ---------------  -----------------\n"
        "inv_1    found      invoice      run_rich  org_9            2027-01-15 07:30\n"
        "pym_1    found      payment      run_min                    2027-01-15 06:00~\n"
        "pym_404  not_found  payment\n"
    )


def test_resolve_empty_input_prints_header_only(
    fake: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An input without IDs is not an error: the header alone, exit 0."""
    code, out, err = run(
        ["resolve", ids_file(tmp_path, " \n, ;\n"), "--redis-url", FAKE_URL], capsys
    )
    assert (code, out, err) == (0, RESOLVE_HEADER + "\r\n", "")


class FailingStore(SingleStore):
    """Fetches fail from the second round trip on."""

    calls = 0
    read_ahead = False  # every chunk through fetch

    def fetch(self, keys: list[str]) -> Any:
        FailingStore.calls += 1
        if FailingStore.calls > 1:
            raise StoreUnavailableError("Cannot reach Redis (lost).", url="redis://app:***@h:1/0")
        return super().fetch(keys)


def test_resolve_redis_lost_midway_exits_2_with_partial_csv(
    fake: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Redis lost after chunk 1: rows so far + error rows on stdout, one error line, exit 2."""
    FailingStore.calls = 0
    monkeypatch.setattr(
        cli,
        "TelemetryReader",
        lambda client, settings: TelemetryReader(
            FailingStore(client, settings), settings, clock=lambda: NOW
        ),
    )
    path = ids_file(tmp_path, "\n".join(f"pym_{i}" for i in range(1500)))
    code, out, err = run(["resolve", path, "--redis-url", FAKE_URL], capsys)
    assert code == 2
    statuses = [line.split(",")[1] for line in out.splitlines()[1:]]
    assert statuses == ["not_found"] * 1000 + ["error"] * 500
    assert err == (
        "error: Redis failed after 1,000 of 1,500 keys: Cannot reach Redis (lost). "
        "(Redis at redis://app:***@h:1/0)\n"
    )


def test_resolve_demo_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--demo resolves against generated demo data without any Redis."""
    code, out, err = run(["resolve", ids_file(tmp_path, "pym_nope"), "--demo"], capsys)
    assert (code, err) == (0, "")
    assert out.splitlines()[1].startswith("pym_nope,not_found,payment,pym_nope,")


# -- summary -------------------------------------------------------------------


def test_summary_csv_exact(data: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """summary --since 24h prints the groups CSV with the contract header."""
    code, out, err = run(["summary", "--since", "24h", "--redis-url", FAKE_URL], capsys)
    assert (code, err) == (0, "")
    assert out == (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        "invoice,org_9,1,2027-01-15T07:30:00Z\r\n"
        "payment,,1,2027-01-15T06:00:00Z\r\n"
        "subscription,'=HYPERLINK(1),1,2027-01-15T05:13:20Z\r\n"
    )


def test_summary_json_exact(data: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """summary --format json prints the contract's JSON object."""
    argv = ["summary", "--since", "all", "--format", "json", "--redis-url", FAKE_URL]
    code, out, err = run(argv, capsys)
    assert (code, err) == (0, "")
    assert orjson.loads(out) == {
        "scanned_keys": 5,
        "records": 4,
        "invalid_records": 1,
        "complete": True,
        "window_start": None,
        "groups": [
            group("invoice", "org_9", 1, "2027-01-15T07:30:00Z"),
            group("organization", "org_5", 1, "2027-01-14T02:00:00Z"),
            group("payment", None, 1, "2027-01-15T06:00:00Z"),
            group("subscription", "=HYPERLINK(1)", 1, "2027-01-15T05:13:20Z"),
        ],
    }


def test_summary_type_and_org_filters(data: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """--type and --org (repeatable) narrow the groups."""
    argv = ["summary", "--since", "all", "--type", "invoice", "--type", "organization"]
    code, out, _ = run([*argv, "--org", "org_5", "--redis-url", FAKE_URL], capsys)
    assert code == 0
    assert out == (
        "entity_type,organization_id,records,latest_processed_at\r\n"
        "organization,org_5,1,2027-01-14T02:00:00Z\r\n"
    )


def test_summary_max_keys_warns_and_reports_incomplete(
    data: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """--max-keys stops early: partial JSON with complete false, a warning line, exit 0."""
    argv = ["summary", "--since", "all", "--format", "json", "--max-keys", "2"]
    code, out, err = run([*argv, "--redis-url", FAKE_URL], capsys)
    assert code == 0
    result = orjson.loads(out)
    assert (result["complete"], result["scanned_keys"]) == (False, 2)
    assert err.count("\n") == 1
    assert err.startswith("warning: stopped at 2 keys (--max-keys)")


# -- seed ----------------------------------------------------------------------


def test_seed_writes_records_and_redacts_the_url(
    fake: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """seed --records N writes N keys with TTLs and reports where, password redacted."""
    code, out, err = run(
        ["seed", "--records", "300", "--seed", "4", "--redis-url", FAKE_URL], capsys
    )
    assert (code, out) == (0, "")
    assert fake.dbsize() == 300
    assert err == (
        "wrote 300 records to redis://app:***@redis.internal:6379/0 "
        "(namespace telemetry, TTL 1,209,600 s)\n"
    )
    assert PASSWORD not in err


# -- expected failures: exit 2, one line, no traceback --------------------------


EXPECTED_FAILURES = {
    "missing-redis-url": (
        ["summary"],
        "error: REDIS_URL is not set: pass --redis-url redis://HOST:PORT or set REDIS_URL "
        "(or --demo for generated demo data).",
    ),
    "seed-missing-redis-url": (
        ["seed", "--records", "5"],
        "error: seed needs a Redis to write to: pass --redis-url or set REDIS_URL.",
    ),
    "bad-since": (
        ["summary", "--since", "yesterday", "--redis-url", FAKE_URL],
        "error: Window 'yesterday' is not a duration: use a number and a unit, e.g. 90m, 24h, 7d "
        "(or 'all').",
    ),
    "missing-file": (
        ["resolve", "/nonexistent/ids.txt", "--redis-url", FAKE_URL],
        "error: Cannot read /nonexistent/ids.txt: No such file or directory.",
    ),
    "bad-scheme": (
        ["summary", "--redis-url", f"http://u:{PASSWORD}@h"],
        "error: Invalid configuration — REDIS_URL: Value error, REDIS_URL must start with "
        "redis:// or rediss:// (got http scheme)",
    ),
    "bad-port": (
        ["summary", "--redis-url", f"redis://u:{PASSWORD}@h:port/0"],
        "error: Invalid configuration — REDIS_URL: Value error, REDIS_URL has a bad port: the port "
        "after host: must be a number from 0 to 65535 — if the password holds # / ? or @, "
        "percent-encode them (# as %23, / as %2F, ? as %3F, @ as %40) (got redis://u:***@h/0)",
    ),
    "max-keys-zero": (
        ["summary", "--max-keys", "0", "--redis-url", FAKE_URL],
        "error: --max-keys must be 1 or more (got 0).",
    ),
    "max-keys-negative": (
        ["summary", "--max-keys", "-3", "--redis-url", FAKE_URL],
        "error: --max-keys must be 1 or more (got -3).",
    ),
    "negative-records": (
        ["seed", "--records", "-1", "--redis-url", FAKE_URL],
        "error: --records must be 0 or more (got -1).",
    ),
}


@pytest.mark.parametrize(
    ("argv", "message"), list(EXPECTED_FAILURES.values()), ids=list(EXPECTED_FAILURES)
)
def test_expected_failures_print_one_line_and_exit_2(
    fake: Any, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    """Each expected failure: exit 2, nothing on stdout, exactly this one line on stderr."""
    code, out, err = run(argv, capsys)
    assert (code, out, err) == (2, "", message + "\n")
    assert PASSWORD not in err


@pytest.mark.parametrize(
    "command", ["resolve", "summary", "seed"], ids=["resolve", "summary", "seed"]
)
def test_unreachable_redis_one_line_password_redacted(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A closed port: exit 2, one line naming the redacted URL and a hint, no password."""
    port = free_port()
    url = f"redis://app:{PASSWORD}@127.0.0.1:{port}/0"
    extra = {"resolve": [ids_file(tmp_path, "pym_1")], "summary": [], "seed": ["--records", "3"]}
    code, out, err = run([command, *extra[command], "--redis-url", url], capsys)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1
    assert err.startswith("error: Cannot reach Redis (")
    assert f"(Redis at redis://app:***@127.0.0.1:{port}/0)" in err
    assert PASSWORD not in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "the following arguments are required: command"),
        (["resolve", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["seed"], "the following arguments are required: --records"),
        (["seed", "--records", "many"], "argument --records: invalid int value: 'many'"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
    ids=["no-command", "bad-format", "seed-no-records", "records-not-int", "unknown-command"],
)
def test_bad_arguments_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], fragment: str
) -> None:
    """argparse errors exit 2 with usage and an error line, never a traceback."""
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    out, err = capsys.readouterr()
    assert info.value.code == 2
    assert out == ""
    assert err.startswith("usage: python -m telemetry")
    last = err.splitlines()[-1]
    assert last.startswith("error: ")
    assert fragment in last


@pytest.mark.parametrize(
    ("command", "fragments"),
    [
        ("resolve", ["FILE", "--format {csv,json,table}", "--column", "--redis-url URL", "--demo"]),
        ("summary", ["--since", "--type T", "--org ORG", "--format {csv,json}", "--max-keys N"]),
        ("seed", ["--records N", "--seed S", "--redis-url URL"]),
    ],
    ids=["resolve", "summary", "seed"],
)
def test_help_for_each_command(
    capsys: pytest.CaptureFixture[str], command: str, fragments: list[str]
) -> None:
    """--help of every command exits 0 and documents its options."""
    with pytest.raises(SystemExit) as info:
        cli.main([command, "--help"])
    out, _ = capsys.readouterr()
    assert info.value.code == 0
    assert out.startswith(f"usage: python -m telemetry {command}")
    for fragment in fragments:
        assert fragment in out


# -- real subprocesses ------------------------------------------------------------


# ``python -m telemetry ARGS`` in the repo, with the test's cleaned environment; text output.
python_m = functools.partial(cli_process.python_m, text=True)


@pytest.mark.parametrize(
    "command",
    [None, "resolve", "summary", "seed"],
    ids=["top-level", "resolve", "summary", "seed"],
)
def test_subprocess_help(command: str | None) -> None:
    """`python -m telemetry [COMMAND] --help` exits 0 with usage on stdout and nothing on stderr."""
    proc = python_m(*([command] if command else []), "--help")
    assert (proc.returncode, proc.stderr) == (0, "")
    assert proc.stdout.startswith("usage: python -m telemetry" + (f" {command}" if command else ""))


def test_entry_point_freezes_the_imported_modules_before_the_command() -> None:
    """`python -m telemetry` runs its command with the imports frozen out of the collector."""
    probe = (
        "import gc, runpy, sys\n"
        "import telemetry.cli\n"
        "before = gc.get_freeze_count()\n"
        "telemetry.cli.main = lambda: print(before, gc.get_freeze_count()) or 0\n"
        "runpy.run_module('telemetry', run_name='__main__')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=cli_process.ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (proc.returncode, proc.stderr) == (0, "")
    before, during = map(int, proc.stdout.split())
    assert before == 0
    # pydantic, redis-py and the package (~44,000 objects), not just the probe's own few.
    assert during > 10_000


def _one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert proc.stderr.startswith("error: ")
    return proc.stderr


def test_subprocess_missing_redis_url() -> None:
    """No REDIS_URL: exit 2 and one line saying how to set it."""
    err = _one_line_error(python_m("resolve", stdin=b"pym_1\n"))
    assert err.startswith("error: REDIS_URL is not set")


def test_subprocess_unreachable_redis_redacts_password() -> None:
    """A closed port: exit 2, one line, the password replaced by ***."""
    port = free_port()
    err = _one_line_error(
        python_m("summary", "--redis-url", f"redis://app:{PASSWORD}@127.0.0.1:{port}/0")
    )
    assert "Cannot reach Redis" in err
    assert f"redis://app:***@127.0.0.1:{port}/0" in err
    assert PASSWORD not in err


def test_subprocess_bad_since() -> None:
    """A bad --since: exit 2 and one line quoting it."""
    err = _one_line_error(python_m("summary", "--since", "soon", "--redis-url", "redis://h:1/0"))
    assert "Window 'soon' is not a duration" in err


def test_subprocess_missing_file(tmp_path: Path) -> None:
    """A missing FILE: exit 2 and one line naming it."""
    missing = tmp_path / "missing.txt"
    err = _one_line_error(python_m("resolve", str(missing), "--redis-url", "redis://h:1/0"))
    assert err == f"error: Cannot read {missing}: No such file or directory.\n"


def test_subprocess_bad_port_in_url() -> None:
    """A non-numeric port: exit 2 and one config line (no redis-py traceback), no password."""
    err = _one_line_error(python_m("summary", "--redis-url", f"redis://u:{PASSWORD}@h:abc/0"))
    assert "REDIS_URL has a bad port" in err
    assert PASSWORD not in err


def test_settings_from_cli_match_library(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI builds settings like the library: --redis-url overrides REDIS_URL."""
    monkeypatch.setenv("REDIS_URL", "redis://env:1/0")
    seen: list[Settings] = []

    def connect(settings: Settings) -> fakeredis.FakeRedis:
        seen.append(settings)
        return fakeredis.FakeRedis()

    monkeypatch.setattr(cli, "connect", connect)
    assert cli.main(["summary", "--redis-url", "redis://flag:2/0"]) == 0
    [settings] = seen
    assert isinstance(settings, Settings)
    assert settings.redis_url is not None
    assert settings.redis_url.get_secret_value() == "redis://flag:2/0"

"""``resolve`` on what people really paste (contract §7): words around IDs are ``ignored`` rows,
run IDs and run URLs give the entities pointing to them, typos get a hint — CSV, JSON, table."""

from __future__ import annotations

import functools
from pathlib import Path

import fakeredis
import orjson
import pytest

import telemetry.cli as cli
from clocks import NOW, FrozenClock
from telemetry.reader import TelemetryReader

TTL = 1_209_600
FAKE_URL = "redis://redis.internal:6379/0"
HEADER = (
    "query,status,entity_type,entity_id,run_id,run_url,organization_id,processed_at,"
    "expires_at,detail"
)
BODY = "aZ3" * 7
RUN_URL = "https://cloud.trigger.dev/orgs/acme/projects/billing/env/prod/runs/run_shared?span=x"
IGNORED = "set aside, not looked up"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, server_clock: FrozenClock) -> fakeredis.FakeRedis:
    """A fakeredis behind the CLI's connect(): two entities processed by run_shared."""
    client = fakeredis.FakeRedis()
    monkeypatch.setattr(cli, "connect", lambda settings: client)
    monkeypatch.setattr(
        cli, "TelemetryReader", functools.partial(TelemetryReader, clock=lambda: NOW)
    )
    for key in ("telemetry:payment:pym_1", "telemetry:invoice:inv_1"):
        value = {"runId": "run_shared", "timestamp": "2027-01-15T07:30:00.000Z"}
        client.set(key, orjson.dumps(value), px=TTL * 1000)
    return client


def resolve(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    path = tmp_path / "paste.txt"
    path.write_text(text, encoding="utf-8")
    code = cli.main(["resolve", str(path), "--redis-url", FAKE_URL, *args])
    out, err = capsys.readouterr()
    assert (code, err) == (0, "")
    return out


def test_slack_message_csv_whole_output(
    fake: fakeredis.FakeRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A Slack message: words are ignored rows in place, a run URL lists its entities, a
    transposed prefix is not_found with the likely fix; formula-looking words neutralised."""
    text = f"@here can you check • pym_1 • {RUN_URL} • pmy_{BODY} thx 🙏"
    stamp = "2027-01-15T07:30:00Z,2027-01-29T08:00:00Z"
    link = "https://cloud.trigger.dev/runs/run_shared"
    word = f"\"a word, not an ID (IDs have a '_' or a digit): {IGNORED}\""
    symbol = f"\"a symbol, not an ID (IDs have a '_' or a digit): {IGNORED}\""
    mention = f"\"a mention, not an ID (IDs have a '_' or a digit): {IGNORED}\""
    assert resolve(tmp_path, text, capsys) == (
        f"{HEADER}\r\n"
        f"'@here,ignored,,,,,,,,{mention}\r\n"
        f"can,ignored,,,,,,,,{word}\r\n"
        f"you,ignored,,,,,,,,{word}\r\n"
        f"check,ignored,,,,,,,,{word}\r\n"
        f"•,ignored,,,,,,,,{symbol}\r\n"
        f"pym_1,found,payment,pym_1,run_shared,{link},,{stamp},\r\n"
        f"{RUN_URL},found,invoice,inv_1,run_shared,{link},,{stamp},\r\n"
        f"{RUN_URL},found,payment,pym_1,run_shared,{link},,{stamp},\r\n"
        f'pmy_{BODY},not_found,,pmy_{BODY},,,,,,"unknown ID prefix; checked 9 entity types '
        "(payment, invoice, billing_run, billing_period, subscription, organization, webhook, "
        f"customer, notification) under telemetry:<type>:pmy_{BODY}: none found; looks like a "
        f'typo: the prefix pmy_ is one slip from pym_ (payment); did you mean pym_{BODY}?"\r\n'
        f"thx,ignored,,,,,,,,{word}\r\n"
        f"🙏,ignored,,,,,,,,{symbol}\r\n"
    )


def test_run_ids_json(
    fake: fakeredis.FakeRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json: a run no record points to is not_found with the reason; hey is ignored."""
    rows = orjson.loads(resolve(tmp_path, "hey run_nobody run_shared", capsys, "--format", "json"))
    assert [(r["query"], r["status"], r["entity_id"], r["run_id"]) for r in rows] == [
        ("hey", "ignored", None, None),
        ("run_nobody", "not_found", None, "run_nobody"),
        ("run_shared", "found", "inv_1", "run_shared"),
        ("run_shared", "found", "pym_1", "run_shared"),
    ]
    assert rows[1]["detail"] == (
        "no record in the namespace points to run_nobody: scanned all 2 keys under "
        "telemetry:* (records expire after their TTL)"
    )


def test_table_format_shows_the_sixth_status(
    fake: fakeredis.FakeRedis, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format table lists ignored words with their status."""
    out = resolve(tmp_path, "thanks pym_1", capsys, "--format", "table")
    lines = out.splitlines()
    assert lines[2].split() == ["thanks", "ignored"]
    assert lines[3].split()[:3] == ["pym_1", "found", "payment"]


def test_capped_scan_exits_2_with_the_reason(
    fake: fakeredis.FakeRedis,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scan stopped at SCAN_MAX_KEYS prints its rows (misses as error, not not_found) and
    says why on stderr, exit 2 like any incomplete resolve."""
    monkeypatch.setenv("SCAN_MAX_KEYS", "1")
    path = tmp_path / "paste.txt"
    path.write_text("run_nobody")
    code = cli.main(["resolve", str(path), "--redis-url", FAKE_URL])
    out, err = capsys.readouterr()
    assert code == 2
    assert out.splitlines()[1].startswith("run_nobody,error,,,run_nobody,,,,,")
    assert "SCAN_MAX_KEYS" in err and err.count("\n") == 1

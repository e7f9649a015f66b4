"""Words that cannot be IDs (contract §7): set aside as ``ignored``, never looked up, never
counted among the pasted IDs; anything with a '_', a digit or an explicit type still is."""

from __future__ import annotations

import fakeredis
import orjson
import pytest

from clocks import NOW, FrozenClock
from telemetry.config import Settings
from telemetry.export import results_csv
from telemetry.ids import IGNORED, ignored_reason, parse_ids
from telemetry.models import Status
from telemetry.reader import TelemetryReader
from telemetry.registry import EntityRegistry

REGISTRY = EntityRegistry()
SLACK = "@here can someone check these? • pym_aaa • pym_bbb thanks! 🙏"


def kinds(text: str) -> list[tuple[str, str]]:
    """(text, kind or 'id') of every query of a paste."""
    return [(q.text, q.kind or "id") for q in parse_ids(text, REGISTRY).queries]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hey", [("hey", IGNORED)]),
        ("@here", [("@here", IGNORED)]),
        ("•", [("•", IGNORED)]),
        ("🙏", [("🙏", IGNORED)]),
        ("- pym_1", [("-", IGNORED), ("pym_1", "id")]),
        ("Note: pym_1", [("Note:", IGNORED), ("pym_1", "id")]),
        ("https://example.com/help", [("https://example.com/help", IGNORED)]),
        # Anything with a '_', a digit or an explicit type is still looked up.
        ("12345", [("12345", "id")]),
        ("abc_def", [("abc_def", "id")]),
        ("payment:abc", [("payment:abc", "id")]),
        ("telemetry:payment:abc", [("telemetry:payment:abc", "id")]),
        ('"pym_1",', [("pym_1", "id")]),
        # A full-width look-alike of an ID is an ID mistyped (invalid_id says why), not a word.
        ("ｐｙｍ＿１", [("ｐｙｍ＿１", "id")]),
        # A known prefix missing its '_' before a usual body: a typo, looked up (and hinted).
        ("pymAbcdefghijklmnopqrstu", [("pymAbcdefghijklmnopqrstu", "id")]),
        # ...but a word that merely starts like a prefix is a word.
        (
            "invoices subscription organization",
            [
                ("invoices", IGNORED),
                ("subscription", IGNORED),
                ("organization", IGNORED),
            ],
        ),
    ],
)
def test_what_is_set_aside(text: str, expected: list[tuple[str, str]]) -> None:
    """Tokens with no '_', no digit and no explicit type are ignored; the rest are queries."""
    assert kinds(text) == expected


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("hey", "a word, not an ID (IDs have a '_' or a digit): set aside, not looked up"),
        ("@here", "a mention, not an ID (IDs have a '_' or a digit): set aside, not looked up"),
        ("•", "a symbol, not an ID (IDs have a '_' or a digit): set aside, not looked up"),
    ],
)
def test_ignored_reason(token: str, reason: str) -> None:
    """The reason names what the token looks like."""
    assert ignored_reason(token) == reason


def test_slack_message_counts() -> None:
    """A Slack message: its two IDs are the pasted IDs; its words are set aside, in order."""
    parsed = parse_ids(SLACK + "\n@here pym_aaa", REGISTRY)
    assert [q.text for q in parsed.queries if not q.kind] == ["pym_aaa", "pym_bbb"]
    assert parsed.ignored_words == [
        "@here",
        "can",
        "someone",
        "check",
        "these?",
        "•",
        "thanks!",
        "🙏",
    ]
    # Two IDs pasted three times: one duplicate; words count nowhere but in `ignored`.
    assert (parsed.tokens, parsed.unique, parsed.duplicates, parsed.ignored) == (3, 2, 1, 8)
    assert parsed.invalid == 0


@pytest.mark.parametrize(
    "text",
    [
        "ids\npym_1\nhey\npym_2",  # a one-column table with a header word
        "payment_id,note\npym_1,hello there\npym_2,ok",  # the note column is never read
        '["pym_1", "hey", "pym_2"]',  # a JSON array
    ],
)
def test_tables_and_json_keep_their_ids(text: str) -> None:
    """Header detection, tables and JSON arrays read the same IDs; a word among them is set
    aside, never an ID."""
    parsed = parse_ids(text, REGISTRY)
    assert [q.text for q in parsed.queries if not q.kind] == ["pym_1", "pym_2"]


def test_plain_column_with_a_word_takes_the_token_path() -> None:
    """A pasted column of IDs with one word in it (the fast path's shape) sets the word aside."""
    parsed = parse_ids("pym_1\nthanks\npym_2\npym_1", REGISTRY)
    assert [(q.text, q.kind) for q in parsed.queries] == [
        ("pym_1", ""),
        ("thanks", IGNORED),
        ("pym_2", ""),
    ]
    assert (parsed.tokens, parsed.duplicates, parsed.ignored) == (3, 1, 1)


def test_ignored_words_do_not_count_towards_the_limit() -> None:
    """max_ids counts the IDs looked up, not the words around them."""
    parsed = parse_ids("hey there pym_1 pym_2", REGISTRY, max_ids=2)
    assert parsed.unique == 2


@pytest.fixture
def reader(server_clock: FrozenClock) -> TelemetryReader:
    client = fakeredis.FakeRedis()
    client.set("telemetry:payment:pym_aaa", orjson.dumps({"runId": "run_1"}), px=10**9)
    return TelemetryReader(client, Settings.load(), clock=lambda: NOW)


def test_words_are_never_read_from_redis(reader: TelemetryReader) -> None:
    """Ignored words cost no key: only the IDs' keys are asked for."""
    planned = reader._plan(parse_ids(SLACK, REGISTRY).queries)[1]
    assert planned == ["telemetry:payment:pym_aaa", "telemetry:payment:pym_bbb"]


def test_resolve_rows_and_csv(reader: TelemetryReader) -> None:
    """resolve gives each word an ignored row with the reason, in its place; counts and the
    CSV carry the sixth status."""
    resolution = reader.resolve(parse_ids("hey pym_aaa • pym_bbb", REGISTRY).queries)
    assert resolution.counts == {
        "found": 1,
        "not_found": 1,
        "invalid_id": 0,
        "invalid_record": 0,
        "error": 0,
        "ignored": 2,
    }
    assert [r.status for r in resolution.results] == [
        Status.IGNORED,
        Status.FOUND,
        Status.IGNORED,
        Status.NOT_FOUND,
    ]
    csv = results_csv(resolution)
    lines = csv.split("\r\n")
    assert lines[1] == (
        "hey,ignored,,,,,,,,"
        "\"a word, not an ID (IDs have a '_' or a digit): set aside, not looked up\""
    )
    assert lines[3] == (
        "•,ignored,,,,,,,,"
        "\"a symbol, not an ID (IDs have a '_' or a digit): set aside, not looked up\""
    )


def test_lookup_skips_words_before_the_id(reader: TelemetryReader) -> None:
    """lookup() takes the first ID past the words; words alone give their ignored row."""
    assert [r.entity_id for r in reader.lookup("hey, can you check pym_aaa please")] == ["pym_aaa"]
    (only,) = reader.lookup("hello")
    assert only.status is Status.IGNORED

"""Redis key format (contract §1): ``{namespace}:{entity_type}:{entity_id}``."""

from __future__ import annotations

import fnmatch

import fakeredis
import pytest

from telemetry.keys import DEFAULT_NAMESPACE, KeyParts, make_key, parse_key, scan_pattern


@pytest.mark.parametrize(
    ("key", "namespace", "expected"),
    [
        ("telemetry:payment:pym_123", "telemetry", KeyParts("payment", "pym_123")),
        (b"telemetry:payment:pym_123", "telemetry", KeyParts("payment", "pym_123")),
        (
            "telemetry:webhook:event:with:colons",
            "telemetry",
            KeyParts("webhook", "event:with:colons"),
        ),
        (
            "telemetry:billing_run:billing_run_x",
            "telemetry",
            KeyParts("billing_run", "billing_run_x"),
        ),
        ("telemetry:invoice::leading", "telemetry", KeyParts("invoice", ":leading")),
        ("telemetry:future_type9:x", "telemetry", KeyParts("future_type9", "x")),
        ("prod:payment:pym_1", "prod", KeyParts("payment", "pym_1")),
        ("a*b:payment:pym_1", "a*b", KeyParts("payment", "pym_1")),
        ("telemetry:payment:pym_1", "prod", None),
        ("telemetryx:payment:pym_1", "telemetry", None),
        ("telemetry:payment", "telemetry", None),
        ("telemetry:payment:", "telemetry", None),
        ("telemetry::pym_1", "telemetry", None),
        ("telemetry:Payment:pym_1", "telemetry", None),
        ("telemetry:9lives:x", "telemetry", None),
        ("telemetry:pay-ment:x", "telemetry", None),
        ("telemetry:pay ment:x", "telemetry", None),
        ("payment:pym_1", "telemetry", None),
        ("", "telemetry", None),
    ],
    ids=[
        "plain",
        "bytes",
        "id-with-colons",
        "type-with-underscore",
        "id-starting-with-colon",
        "unknown-but-well-formed-type",
        "other-namespace",
        "glob-namespace-literal",
        "wrong-namespace",
        "namespace-is-only-a-prefix",
        "no-id-part",
        "empty-id",
        "empty-type",
        "uppercase-type",
        "type-starts-with-digit",
        "type-with-dash",
        "type-with-space",
        "no-namespace",
        "empty",
    ],
)
def test_parse_key(key: str | bytes, namespace: str, expected: KeyParts | None) -> None:
    """parse_key splits on the first two colons only and rejects malformed keys with None."""
    assert parse_key(key, namespace) == expected


def test_parse_key_defaults_to_telemetry_namespace() -> None:
    """Without a namespace argument, keys of the default ``telemetry`` namespace parse."""
    assert DEFAULT_NAMESPACE == "telemetry"
    assert parse_key("telemetry:payment:pym_1") == KeyParts("payment", "pym_1")


def test_parse_key_undecodable_bytes_do_not_crash() -> None:
    """A key with invalid UTF-8 bytes in its ID parses with replacement characters."""
    assert parse_key(b"telemetry:payment:pym_\xff") == KeyParts("payment", "pym_\ufffd")


@pytest.mark.parametrize(
    ("namespace", "entity_type", "entity_id"),
    [
        ("telemetry", "payment", "pym_1"),
        ("telemetry", "webhook", "event:a:b"),
        ("ns", "billing_period", "billing_period_X"),
    ],
    ids=["plain", "id-with-colons", "other-namespace"],
)
def test_make_key_round_trips(namespace: str, entity_type: str, entity_id: str) -> None:
    """make_key builds ns:type:id and parse_key gives the same type and ID back."""
    key = make_key(namespace, entity_type, entity_id)
    assert key == f"{namespace}:{entity_type}:{entity_id}"
    assert parse_key(key, namespace) == (entity_type, entity_id)


@pytest.mark.parametrize(
    ("namespace", "expected"),
    [
        ("telemetry", "telemetry:*"),
        ("a*b", "a\\*b:*"),
        ("a?b", "a\\?b:*"),
        ("a[xy]b", "a\\[xy\\]b:*"),
        ("back\\slash", "back\\\\slash:*"),
        ("telemetry:payment", "telemetry:payment:*"),
    ],
    ids=["plain", "star", "question-mark", "brackets", "backslash", "namespace-and-type"],
)
def test_scan_pattern_escapes_glob_characters(namespace: str, expected: str) -> None:
    """scan_pattern escapes * ? [ ] and backslash so the namespace matches only literally."""
    assert scan_pattern(namespace) == expected


@pytest.mark.parametrize(
    "namespace",
    ["a*b", "a?b", "a[xy]b", "back\\slash"],
    ids=["star", "question-mark", "brackets", "backslash"],
)
def test_scan_pattern_matches_only_its_own_namespace_in_redis(namespace: str) -> None:
    """SCAN MATCH with the escaped pattern returns the namespace's keys, none a glob adds."""
    client = fakeredis.FakeRedis()
    own = make_key(namespace, "payment", "pym_1")
    # Keys a raw (unescaped) glob would also match.
    lookalikes = ["aXb:payment:pym_2", "axb:payment:pym_3", "ayb:payment:pym_4", "a*:payment:x"]
    for key in [own, *lookalikes]:
        client.set(key, "{}")
    found = {key.decode() for key in client.scan_iter(match=scan_pattern(namespace), count=100)}
    assert found == {own}
    # Sanity check of the test itself: the unescaped pattern would over-match.
    if namespace in ("a*b", "a?b", "a[xy]b"):
        assert any(fnmatch.fnmatchcase(key, namespace + ":*") for key in lookalikes)
